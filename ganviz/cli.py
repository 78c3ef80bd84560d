"""The `ganviz` command: the window by default, `train` for headless runs, `bench` for speed figures."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ganviz.core.config import DEVICES, LOSSES, MODES, NOISES, OPTIMIZERS, ConfigError, TrainConfig
from ganviz.core.modes import MNIST_ARCHS
from ganviz.measure_cli import add_measure_parser, measure_command
from ganviz.lesson_cli import add_lesson_parser, lesson_command
from ganviz.mle_cli import add_mle_parser, mle_command

EXIT_USAGE = 2
BATCH_THREADS_FROM = 4  # lanes in a batched group from which a headless run uses every core


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the option and what is wrong), exit code 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    parser = Parser(
        prog="ganviz",
        description="Watch the theory of GANs (Goodfellow et al. 2014) while a GAN trains. "
                    "Without a command, opens the window.",
    )
    parser.add_argument("--mode", choices=MODES, help="mode the window opens in (default: the last one, else 1d)")
    parser.add_argument("--dataset", help="target distribution the window starts with")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="compute device (default: auto)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("gui", help="open the window (the default)", parents=[_window_options()])

    train = sub.add_parser(
        "train", help="train headless, write metrics.csv, config.json and final.png",
        description="Train a GAN headless. Writes DIR/metrics.csv (one row every --log-every iterations, "
                    "divergences in nats), DIR/config.json (every setting, to repeat the run), "
                    "DIR/final.png (the window's view of the final state) and DIR/checkpoint (everything "
                    "needed to go on with --resume; saved at the end and on a clean stop: --max-minutes, "
                    "Ctrl-C, SIGTERM). Unset options take the mode's defaults (see README). A folder that "
                    "already holds a run is refused unless --overwrite is given; two runs cannot write into "
                    "one folder at once.")
    add_run_options(train)
    train.add_argument("--out", help="output directory (created if missing; required unless --resume)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run already in --out (its metrics, config, PNGs and checkpoint)")
    train.add_argument("--resume", metavar="DIR",
                       help="go on with the run in DIR from its checkpoint: --steps more iterations (default: "
                            "the saved --steps), rows appended to DIR/metrics.csv; only --steps, --max-minutes "
                            "and --device may be given with it")
    train.add_argument("--record", metavar="FILE", help="also write the view as an animation: FILE.gif "
                       "(or FILE.mp4 with the optional extra ganviz[video]), about 60 frames over the run")
    train.add_argument("--fps", type=float, default=5.0, help="frames per second of --record (default 5)")
    train.add_argument("--samples", type=int, metavar="N", help="1d/2d: also write DIR/samples.csv, N points of "
                       "P_G in the data's units (header: the data file's column names, else x1,x2 or x)")

    from ganviz.sweep import add_sweep_parser

    add_sweep_parser(sub)
    add_mle_parser(sub)
    add_measure_parser(sub)
    add_lesson_parser(sub)

    download = sub.add_parser("download-mnist", help="download MNIST's training set into the cache (checksummed)",
                              description="Download train-images/train-labels of MNIST into the user's ganviz cache "
                                          "(verified against the published checksums; nothing partial is left on "
                                          "failure). The MNIST mode then uses it instead of the bundled subset.")
    download.add_argument("--dest", help="folder to download into (default: the ganviz cache)")

    bench = sub.add_parser("bench", help="measure training speed: plain PyTorch loop, headless, window open",
                           description="Print iterations/s of a plain PyTorch loop of the same model and "
                                       "batch, of ganviz headless, and with the window open (offscreen), "
                                       "with the UI timer's lateness, and check them against the targets. "
                                       "With --lanes N: lane-iterations/s of N batched lanes (the mode's "
                                       "defaults, lanes differing by seed) against one lane. Each figure "
                                       "is marked PASS or FAIL and a last line says whether all targets "
                                       "were met; the exit code is 0 either way (2 for bad options).")
    bench.add_argument("--mode", choices=MODES, default="1d")
    bench.add_argument("--dataset", help="target (default: the mode's default)")
    bench.add_argument("--seconds", type=float, default=3.0, help="length of each measurement (default 3)")
    bench.add_argument("--repeats", type=int, default=3, help="interleaved repeats (at least 1); medians are reported")
    bench.add_argument("--lanes", type=int, help="measure N batched lanes against one lane (2 or more)")
    bench.add_argument("--device", choices=DEVICES, default="auto")
    bench.add_argument("--no-window", action="store_true", help="skip the window measurement")
    bench.add_argument("--record", action="store_true",
                       help="also measure what recording costs training: `train --record` headless and the "
                            "window's Record button (target: at most 10%% slower)")
    return parser


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The settings of a run, shared by `train` and `sweep`."""
    p.add_argument("--mode", choices=MODES, default="1d", help=f"{', '.join(MODES)} (default 1d)")
    p.add_argument("--dataset", help="target: 1d: gaussian, bimodal, trimodal, skewed, heavytail; "
                                     "2d: ring8, grid25, moons, spiral, gaussian or a .csv/.npy of points; "
                                     "mnist: mnist")
    p.add_argument("--points", metavar="FILE", help="1d/2d: a point set as the target P_data (.csv with 1 or 2 "
                   "numeric columns and an optional header, or .npy of shape (N,), (N, 1) or (N, 2)); trained "
                   "standardised, shown and exported in its own units (the same as --dataset FILE)")
    p.add_argument("--steps", type=int, help="iterations of Algorithm 1 to run")
    p.add_argument("--k", type=int, help="discriminator updates per generator update (1-20; default 1)")
    p.add_argument("--lr-d", type=float, help="learning rate of D (0 < lr <= 1)")
    p.add_argument("--lr-g", type=float, help="learning rate of G (0 < lr <= 1)")
    p.add_argument("--loss", choices=LOSSES,
                   help="the GAN objective (default nonsaturating). lsgan, wgan, wgan-gp and hinge also set the "
                        "k and Adam betas they need unless given (wgan-gp: k 5, betas 0/0.9, learning rates 1e-4)")
    p.add_argument("--k-g", type=int, help="generator updates per iteration (1-20; default 1)")
    p.add_argument("--beta1", type=float, help="Adam's β1 (default 0.5, the DCGAN setting)")
    p.add_argument("--beta2", type=float, help="Adam's β2 (default 0.999)")
    p.add_argument("--batch", type=int, help="samples per batch (m in Algorithm 1)")
    p.add_argument("--hidden", type=int, help="width of the hidden layers (channels in mnist)")
    p.add_argument("--layers", type=int, help="number of hidden layers of G and D (toy modes)")
    p.add_argument("--noise-dim", type=int, help="dimension of the noise z")
    p.add_argument("--noise", choices=NOISES, help="distribution of z: gaussian or uniform on [-1,1]")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="adam (β1 = 0.5) or sgd (default adam)")
    p.add_argument("--seed", type=int, help="random seed: the same seed repeats the run on the CPU")
    p.add_argument("--device", choices=DEVICES, help="compute device (default auto: CUDA, MPS, else CPU)")
    p.add_argument("--log-every", type=int, help="iterations between rows of metrics.csv")
    p.add_argument("--freeze-g", action="store_true", default=None,
                   help="train only D (G frozen): the CLI form of 'Fit D*'")
    p.add_argument("--d-oracle", action="store_true", default=None,
                   help="1d/2d: train G against the exact D* = p_data/(p_data + p_G) of its current P_G (the grid "
                        "estimate, interpolated at G(z)) instead of the network D, which keeps training "
                        "(THEORY.md §7: gradient descent on the JSD itself)")
    p.add_argument("--max-minutes", type=float, help="stop cleanly after this wall-clock budget")
    p.add_argument("--spread", type=float, help="2d only: multiply the σ of the target's blobs")
    p.add_argument("--data", "--data-dir", dest="data_dir", metavar="PATH",
                   help="mnist only: the images P_data is made of: a folder of image files (PNG, JPEG…; class "
                        "subfolders give labels), a folder of IDX files (train-images-idx3-ubyte[.gz] …), or a "
                        ".npy/.npz array (N, H, W), uint8 0-255 or float 0-1; all made 28x28 grey")
    p.add_argument("--grid-every", type=int, help="mnist only: also write grid_STEP.png every N iterations")
    p.add_argument("--arch", choices=tuple(MNIST_ARCHS),
                   help="mnist only: the model: conv (DCGAN, R1 penalty on D, k_G = 2; default), mlp (fully "
                        "connected, as in the original paper) or conv-legacy (D unregularised: plateaus). Sets "
                        "the loss, learning rates, k_G and width it was measured with unless given")
    # The Dirac-GAN's own settings (TrainConfig.extra; see ganviz.core.dirac): refused in other modes.
    p.add_argument("--update", choices=("simultaneous", "alternating"),
                   help="dirac only: both players step from the same point, or D then G (default simultaneous)")
    p.add_argument("--reg", choices=("none", "r1", "r2", "noise"),
                   help="dirac only: regulariser of D: R1 or R2 gradient penalty (γ/2·ψ²), instance noise (σ)")
    p.add_argument("--gamma", type=float, help="dirac only: γ of --reg r1/r2 (default 1)")
    p.add_argument("--noise-std", type=float, help="dirac only: σ of --reg noise (default 0.5)")
    p.add_argument("--theta0", type=float, help="dirac only: G's start θ (default 1)")
    p.add_argument("--psi0", type=float, help="dirac only: D's start ψ (default 1)")


def _window_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--mode", choices=MODES, default=argparse.SUPPRESS)
    parent.add_argument("--dataset", default=argparse.SUPPRESS)
    parent.add_argument("--device", choices=DEVICES, default=argparse.SUPPRESS)
    return parent


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return train(args)
        if args.command == "sweep":
            from ganviz.sweep import sweep_command

            return sweep_command(args)
    except KeyboardInterrupt:  # Ctrl-C before training started (building the task, say)
        print("ganviz: interrupted", file=sys.stderr)
        return 130
    if args.command == "measure":
        return measure_command(args)
    if args.command == "mle":
        return mle_command(args)
    if args.command == "lesson":
        return lesson_command(args)
    if args.command == "download-mnist":
        return download_mnist_command(args)
    if args.command == "bench":
        from ganviz.bench import run_bench

        return run_bench(args)
    try:
        return gui(args)
    except KeyboardInterrupt:  # Ctrl-C while the window starts (importing Qt and torch), before its handler
        print("ganviz: interrupted", file=sys.stderr)
        return 130


def fail(message: str) -> int:
    print(f"ganviz: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def gui(args: argparse.Namespace) -> int:
    restore_mode = args.mode is None and args.dataset is None  # else the command line says which
    args.mode = args.mode or "1d"
    try:
        TrainConfig.for_mode(args.mode, dataset=args.dataset, device=args.device)
    except ConfigError as exc:
        return fail(str(exc))
    from ganviz.runfiles import qt_unavailable

    if qt_unavailable():  # one line, not a traceback or a Qt abort
        return fail(f"the window cannot open: {qt_unavailable()}. The README's Install section lists the "
                    "system libraries it needs; `ganviz train` and `ganviz sweep` work without them")
    from PySide6.QtWidgets import QApplication

    from ganviz.core.device import leave_core_for_ui
    from ganviz.ui import MainWindow

    from ganviz.ui.quit_signals import QuitOnSignals

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ganviz")
    leave_core_for_ui()
    quit_signals = QuitOnSignals(app)  # Ctrl-C / SIGTERM close the window, from start-up on
    try:
        try:
            window = MainWindow(mode=args.mode, dataset=args.dataset, device=args.device)
        except (ConfigError, ValueError, OSError) as exc:
            return fail(str(exc))
        from ganviz.ui.remember import remember

        remember(window, restore_mode=restore_mode)
        window.show()
        code = app.exec()
    finally:
        quit_signals.restore()
    if quit_signals.exit_code is not None:
        print(f"ganviz: {quit_signals.reason}", file=sys.stderr)
        return quit_signals.exit_code
    return code


TRAIN_FIELDS = ("dataset", "steps", "k", "k_g", "beta1", "beta2", "lr_d", "lr_g", "loss", "batch", "hidden", "layers", "noise_dim", "noise",
                "optimizer", "seed", "device", "log_every", "freeze_g", "d_oracle", "max_minutes", "spread", "data_dir",
                "grid_every")

DIRAC_FIELDS = ("update", "reg", "gamma", "noise_std", "theta0", "psi0")  # dirac only, kept in extra


MODE_ONLY = {"spread": ("2d",), "data_dir": ("mnist",), "grid_every": ("mnist",), "arch": ("mnist",)}
OPTION_NAMES = {"data_dir": "--data"}  # a field whose option is not its name with dashes (--data-dir: an alias)
RESUME_ALLOWED = ("steps", "max_minutes", "device")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's validated settings; options of another mode are refused rather than silently ignored."""
    for name, modes_ in MODE_ONLY.items():
        if getattr(args, name) is not None and args.mode not in modes_:
            raise ConfigError(OPTION_NAMES.get(name, f"--{name.replace('_', '-')}"),
                              f"applies only to --mode {' or '.join(modes_)}")
    extra = {}
    for name in DIRAC_FIELDS:  # stored in extra, every one of them, so config.json repeats the run
        if getattr(args, name, None) is not None and args.mode != "dirac":
            raise ConfigError(f"--{name.replace('_', '-')}", "applies only to --mode dirac")
    if args.mode == "dirac":
        from ganviz.core.dirac import settings

        extra = settings({name: getattr(args, name, None) for name in DIRAC_FIELDS
                          if getattr(args, name, None) is not None})
    if args.arch is not None:  # kept in extra (and so in config.json) like the Dirac-GAN's settings
        extra = {"arch": args.arch}
    fields = {f: getattr(args, f) for f in TRAIN_FIELDS}
    if getattr(args, "points", None) is not None:
        if args.mode not in ("1d", "2d"):
            raise ConfigError("--points", "applies only to --mode 1d or 2d")
        if args.dataset is not None:
            raise ConfigError("--points", "give either --points FILE or --dataset, not both")
        fields["dataset"] = args.points
    return TrainConfig.for_mode(args.mode, extra=extra or None, **fields)


def build_session(cfgs: list[TrainConfig]):
    """The Session of `cfgs`; unknown datasets or unreadable files are a ConfigError naming the option."""
    from ganviz.core.session import Session

    try:
        return Session(cfgs)
    except ConfigError:
        raise
    except (ValueError, OSError) as exc:
        raise ConfigError("--dataset" if cfgs[0].mode != "mnist" else "--dataset/--data", str(exc)) from None


def prepare_session(session) -> None:
    """Thread limits, the device notice and (MNIST) the metric classifier, before the first row."""
    from ganviz.core.device import limit_threads

    task = session.lanes[0].trainer.task
    if session.message:
        print(f"ganviz: notice: {session.message}", file=sys.stderr)
    if session.cfg.data_dir is not None:  # what --data was read as (and what it skipped)
        print(f"ganviz: P_data: {task.describe()}", file=sys.stderr)
    # One toy lane is too small for a second intra-op thread; stacked lanes are not: headless, 16 1-D
    # lanes train ~25% and 9 2-D lanes ~35% faster on both cores of a 2-core machine. (The window keeps
    # one core for painting: there a second training thread made 16 lanes slower.)
    groups = session.groups()
    if max(len(group) for group in groups) < BATCH_THREADS_FROM or len(groups) > 1:
        limit_threads(task.max_threads)
    wait_classifiers = {id(lane.trainer.task): getattr(lane.trainer.task, "wait_classifier", None)
                        for lane in session.lanes}
    if any(wait_classifiers.values()):  # so the first rows of metrics.csv have the classifier metrics
        print("ganviz: preparing the classifier for the image metrics…", file=sys.stderr)
        for wait in wait_classifiers.values():
            if wait is not None:
                wait(300)


def train(args: argparse.Namespace) -> int:
    if args.resume is not None:
        return resume(args)
    from ganviz.headless import LaneOut, config_json, drive, progress_bar
    from ganviz.runfiles import (CsvRows, OutLock, atomic_write_text, check_out_dir, check_targets, clear_run,
                                 holds_run, out_path, reason)

    if args.out is None:
        return fail("--out: required (the folder to write the run into), unless --resume DIR")
    try:
        out = out_path(args.out)
        cfg = config_from_args(args)
        from ganviz.sweep import check_memory

        check_memory([cfg])  # qa case 15: a model that cannot fit is refused before anything is written
        check_out_dir(out)
        if holds_run(out) and not args.overwrite:
            raise ConfigError("--out", f"{out} already holds a run; go on with it with --resume {out}, "
                                       "or replace it with --overwrite")
        check_targets(out)
        record = _record_path(args)
        samples = _samples(args, cfg.mode)
        session = build_session([cfg])
    except ConfigError as exc:
        return fail(str(exc))
    try:
        lock = OutLock.take(out)
    except ConfigError as exc:
        session.close()  # nothing was written; stop what the tasks started (e.g. the classifier)
        return fail(str(exc))
    try:
        prepare_session(session)
        lane = session.lanes[0]
        try:
            if args.overwrite:
                clear_run(out)
            atomic_write_text(out / "config.json", config_json(session, lane))
            csv = CsvRows(out / "metrics.csv", lane.log.columns)
        except OSError as exc:
            return fail(f"--out: {reason(exc)}")
        outs = {lane.id: LaneOut(out, csv, cfg.grid_every, samples)}
        recorder = _recorder(session, record, args.fps, cfg) if record is not None else None
        status = _run_and_report(session, outs, cfg.steps, cfg.log_every, cfg.max_minutes, out, progress_bar(cfg.steps))
        if recorder is not None:
            print(f"ganviz: recorded {recorder.finish()} frames -> {record}", file=sys.stderr)
        return status
    finally:
        lock.release()
        session.close()


def _samples(args: argparse.Namespace, mode: str) -> int | None:
    """--samples N, checked before anything trains (ConfigError naming --samples)."""
    if args.samples is None:
        return None
    if mode not in ("1d", "2d"):
        raise ConfigError("--samples", "applies only to --mode 1d or 2d (the modes whose samples are points)")
    from ganviz.runfiles import check_samples

    return check_samples(args.samples)


def _record_path(args: argparse.Namespace):
    """--record's file, checked before anything trains (ConfigError naming --record or --fps)."""
    if args.record is None:
        return None
    from ganviz.recording import RecordError, check_path

    if not (math.isfinite(args.fps) and 0 < args.fps <= 50):
        raise ConfigError("--fps", f"must be between 0 and 50 frames per second (got {args.fps:g})")
    try:
        return check_path(args.record)
    except RecordError as exc:
        raise ConfigError("--record", str(exc)) from None


def _recorder(session, path, fps: float, cfg: TrainConfig):
    from ganviz.recording import HeadlessRecorder

    return HeadlessRecorder(session, path, fps, cfg.steps, cfg.log_every)


def resume(args: argparse.Namespace) -> int:
    """`train --resume DIR [--steps N]`: every check before anything is written."""
    from ganviz.core.checkpoint import CheckpointError, find_checkpoint
    from ganviz.core.session import Session
    from ganviz.headless import LaneOut, drive, progress_bar
    from ganviz.runfiles import CsvRows, OutLock, check_out_dir, check_targets, out_path, reason, resume_csv

    given = [name for name in (*TRAIN_FIELDS, "points", "arch", "out") if name not in RESUME_ALLOWED
             and getattr(args, name, None) is not None]
    if args.overwrite:
        given.append("overwrite")
    if given:
        return fail(f"--{given[0].replace('_', '-')}: cannot be given with --resume (the run keeps its settings; "
                    f"only {', '.join('--' + n.replace('_', '-') for n in RESUME_ALLOWED)} may be)")
    try:
        folder = out_path(args.resume, "--resume")
        if not folder.is_dir():
            raise ConfigError("--resume", f"no ganviz run at {folder}: " + (
                "it is not a folder" if folder.exists() else "the folder does not exist"))
        cp = find_checkpoint(folder)
        if cp is None:
            raise ConfigError("--resume", f"{folder} is not a ganviz run folder: it has no checkpoint")
        if cp == folder and folder.name == "checkpoint":  # DIR/checkpoint given instead of DIR
            folder = folder.parent
        try:
            session = Session.load(cp, device=args.device)
        except (CheckpointError, ConfigError) as exc:
            raise ConfigError("--resume", str(exc)) from None
        except Exception as exc:  # anything else a crafted folder could provoke is still one line
            raise ConfigError("--resume", f"{cp} cannot be loaded: {type(exc).__name__}: {exc}") from None
        if len(session.lanes) != 1:
            session.close()
            raise ConfigError("--resume", f"{cp} holds {len(session.lanes)} lanes (a sweep); train --resume goes "
                                          "on with a single run")
        lane = session.lanes[0]
        cfg = lane.cfg
        steps = cfg.steps if args.steps is None else args.steps
        extra = {"max_minutes": args.max_minutes} if args.max_minutes is not None else {}
        cfg.replace(steps=steps, **extra)  # validates --steps and --max-minutes
        max_minutes = args.max_minutes if args.max_minutes is not None else None
        samples = _samples(args, cfg.mode)
        check_out_dir(folder, "--resume")
        check_targets(folder, option="--resume")
        if not (folder / "metrics.csv").is_file():
            raise ConfigError("--resume", f"{folder / 'metrics.csv'} is missing")
        try:
            metrics_plan = resume_csv(folder / "metrics.csv", lane.log.columns, lane.trainer.iteration)
        except (OSError, ValueError) as exc:
            raise ConfigError("--resume", reason(exc) if isinstance(exc, OSError) else str(exc)) from None
    except ConfigError as exc:
        return fail(str(exc))
    try:
        lock = OutLock.take(folder, "--resume")
    except ConfigError as exc:
        session.close()
        return fail(str(exc))
    try:
        prepare_session(session)
        try:
            metrics_plan.apply(folder / "metrics.csv")  # drops rows a killed run wrote after its checkpoint
            if metrics_plan.dropped:
                print(f"ganviz: notice: {folder / 'metrics.csv'} was written by an older ganviz; rewritten without "
                      f"its empty columns {', '.join(metrics_plan.dropped)}, every row kept", file=sys.stderr)
            _name_the_model(folder / "config.json", cfg)
            csv = CsvRows(folder / "metrics.csv", lane.log.columns, append=True)
        except OSError as exc:
            return fail(f"--resume: {reason(exc)}")
        outs = {lane.id: LaneOut(folder, csv, cfg.grid_every, samples)}
        return _run_and_report(session, outs, steps, cfg.log_every, max_minutes, folder, progress_bar(steps))
    finally:
        lock.release()
        session.close()


def _name_the_model(path: Path, cfg: TrainConfig) -> None:
    """An image-mode run saved before --arch resumes as the model it trained (Session.load names it
    in the config, conv-legacy); its config.json, which names none, gets the name too, so that it
    still says what the run is (rewritten atomically). Other config.json files are left alone."""
    import json

    from ganviz.runfiles import atomic_write_text

    arch = cfg.extra.get("arch")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # missing or not ours to mend: the checkpoint holds the settings
    if arch is None or not isinstance(data, dict) or not isinstance(data.get("extra", {}), dict) \
            or "arch" in data.get("extra", {}):
        return
    data["extra"] = {**data.get("extra", {}), "arch": arch}
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"ganviz: notice: {path.parent} was saved before --arch; resumed as the model it trained, "
          f"--arch {arch} (now named in {path.name})", file=sys.stderr)


def _run_and_report(session, outs, steps: int, log_every: int, max_minutes: float | None, out: Path, bar) -> int:
    from ganviz.headless import drive
    from ganviz.runfiles import CHECKPOINT

    lane = session.lanes[0]
    start_it = lane.trainer.iteration
    outcome = drive(session, outs, steps, log_every, None if max_minutes is None else 60 * max_minutes,
                    out / CHECKPOINT, bar)
    for error in outcome.errors:
        print(f"ganviz: error: {error}", file=sys.stderr)
    done = lane.trainer.iteration - start_it
    rate = done / outcome.seconds if outcome.seconds > 0 else math.nan
    last = lane.log.last()
    why = {"error": "stopped by an error", "disk": "stopped: disk full"}.get(outcome.why, outcome.why)
    summary = (f"{why}: {done} iterations in {outcome.seconds:.1f} s ({rate:,.0f} it/s) on {session.frame().device}"
               + (f", now at iteration {lane.trainer.iteration}" if start_it else ""))
    if math.isfinite(last.get("jsd", math.nan)):
        summary += f"; JSD {last['jsd']:.4f} nats, bound (V+log 4)/2 {last['jsd_d']:.4f}"
    print(f"{summary} -> {out}", file=sys.stderr)
    return outcome.status


def download_mnist_command(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ganviz.core.mnist.data import mnist_cache_dir
    from ganviz.core.mnist.download import DownloadError, download_mnist

    dest = Path(args.dest) if args.dest else mnist_cache_dir()
    bar = _progress(0)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    class Terminated(BaseException):
        """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so the download's cleanup runs."""

    def on_sigterm(signum, frame):
        raise Terminated

    in_main = threading.current_thread() is threading.main_thread()  # signal handlers can only be set there
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    try:
        path = download_mnist(dest, progress)
    except DownloadError as exc:
        return fail(f"download-mnist: {exc}")
    except (KeyboardInterrupt, Terminated) as exc:
        why, status = ("interrupted", 130) if isinstance(exc, KeyboardInterrupt) else ("terminated", 143)
        newline = "\n" if bar is not None else ""  # off the progress bar's line
        print(f"{newline}ganviz: download-mnist: {why}; nothing partial was left in {dest}", file=sys.stderr)
        return status
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if bar is not None:
            bar.close()
    print(f"MNIST downloaded and verified in {path}", file=sys.stderr)
    return 0


def _progress(total: int):
    """A tqdm progress bar on an interactive terminal, else None (logs stay clean)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="it", dynamic_ncols=True, file=sys.stderr)
