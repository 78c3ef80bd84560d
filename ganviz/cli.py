"""The `ganviz` command: the window by default, `train` for headless runs, `bench` for speed figures."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from ganviz.core.config import DEVICES, LOSSES, MODES, NOISES, OPTIMIZERS, ConfigError, TrainConfig

EXIT_USAGE = 2


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
    parser.add_argument("--mode", choices=MODES, default="1d", help="mode the window opens in (default 1d)")
    parser.add_argument("--dataset", help="target distribution the window starts with")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="compute device (default: auto)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("gui", help="open the window (the default)", parents=[_window_options()])

    train = sub.add_parser(
        "train", help="train headless, write metrics.csv, config.json and final.png",
        description="Train a GAN headless. Writes DIR/metrics.csv (one row every --log-every iterations, "
                    "divergences in nats), DIR/config.json (every setting, to repeat the run) and "
                    "DIR/final.png (the window's view of the final state). Unset options take the mode's "
                    "defaults (see README).")
    train.add_argument("--mode", choices=MODES, default="1d", help="1d, 2d or mnist (default 1d)")
    train.add_argument("--dataset", help="target: 1d: gaussian, bimodal, trimodal, skewed, heavytail; "
                                         "2d: ring8, grid25, moons, spiral, gaussian or a .csv/.npy of points; "
                                         "mnist: mnist")
    train.add_argument("--steps", type=int, help="iterations of Algorithm 1 to run")
    train.add_argument("--k", type=int, help="discriminator updates per generator update (1-20; default 1)")
    train.add_argument("--lr-d", type=float, help="learning rate of D (0 < lr <= 1)")
    train.add_argument("--lr-g", type=float, help="learning rate of G (0 < lr <= 1)")
    train.add_argument("--loss", choices=LOSSES, help="generator loss (default nonsaturating)")
    train.add_argument("--batch", type=int, help="samples per batch (m in Algorithm 1)")
    train.add_argument("--hidden", type=int, help="width of the hidden layers (channels in mnist)")
    train.add_argument("--layers", type=int, help="number of hidden layers of G and D (toy modes)")
    train.add_argument("--noise-dim", type=int, help="dimension of the noise z")
    train.add_argument("--noise", choices=NOISES, help="distribution of z: gaussian or uniform on [-1,1]")
    train.add_argument("--optimizer", choices=OPTIMIZERS, help="adam (β1 = 0.5) or sgd (default adam)")
    train.add_argument("--seed", type=int, help="random seed: the same seed repeats the run on the CPU")
    train.add_argument("--device", choices=DEVICES, help="compute device (default auto: CUDA, MPS, else CPU)")
    train.add_argument("--log-every", type=int, help="iterations between rows of metrics.csv")
    train.add_argument("--freeze-g", action="store_true", default=None,
                       help="train only D (G frozen): the CLI form of 'Fit D*'")
    train.add_argument("--max-minutes", type=float, help="stop cleanly after this wall-clock budget")
    train.add_argument("--spread", type=float, help="2d: multiply the σ of the target's blobs")
    train.add_argument("--data-dir", help="mnist: folder with IDX files (train-images-idx3-ubyte[.gz] …)")
    train.add_argument("--grid-every", type=int, help="mnist: also write grid_STEP.png every N iterations")
    train.add_argument("--out", required=True, help="output directory (created if missing)")

    download = sub.add_parser("download-mnist", help="download MNIST's training set into the cache (checksummed)",
                              description="Download train-images/train-labels of MNIST into the user's ganviz cache "
                                          "(verified against the published checksums; nothing partial is left on "
                                          "failure). The MNIST mode then uses it instead of the bundled subset.")
    download.add_argument("--dest", help="folder to download into (default: the ganviz cache)")

    bench = sub.add_parser("bench", help="measure training speed: plain PyTorch loop, headless, window open",
                           description="Print iterations/s of a plain PyTorch loop of the same model and "
                                       "batch, of ganviz headless, and with the window open (offscreen), "
                                       "with the UI timer's lateness, and check them against the targets.")
    bench.add_argument("--mode", choices=MODES, default="1d")
    bench.add_argument("--dataset", help="target (default: the mode's default)")
    bench.add_argument("--seconds", type=float, default=3.0, help="length of each measurement (default 3)")
    bench.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are reported")
    bench.add_argument("--device", choices=DEVICES, default="auto")
    bench.add_argument("--no-window", action="store_true", help="skip the window measurement")
    return parser


def _window_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--mode", choices=MODES, default=argparse.SUPPRESS)
    parent.add_argument("--dataset", default=argparse.SUPPRESS)
    parent.add_argument("--device", choices=DEVICES, default=argparse.SUPPRESS)
    return parent


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        return train(args)
    if args.command == "download-mnist":
        return download_mnist_command(args)
    if args.command == "bench":
        from ganviz.bench import run_bench

        return run_bench(args)
    return gui(args)


def fail(message: str) -> int:
    print(f"ganviz: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def gui(args: argparse.Namespace) -> int:
    try:
        TrainConfig.for_mode(args.mode, dataset=args.dataset, device=args.device)
    except ConfigError as exc:
        return fail(str(exc))
    from PySide6.QtWidgets import QApplication

    from ganviz.core.device import leave_core_for_ui
    from ganviz.ui import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ganviz")
    leave_core_for_ui()
    try:
        window = MainWindow(mode=args.mode, dataset=args.dataset, device=args.device)
    except (ConfigError, ValueError, OSError) as exc:
        return fail(str(exc))
    window.show()
    return app.exec()


TRAIN_FIELDS = ("dataset", "steps", "k", "lr_d", "lr_g", "loss", "batch", "hidden", "layers", "noise_dim", "noise",
                "optimizer", "seed", "device", "log_every", "freeze_g", "max_minutes", "spread", "data_dir",
                "grid_every")


def _check_out_dir(out: Path) -> None:
    """Raise ConfigError('--out') unless `out` is, or can be created as, a writable directory."""
    if out.exists():
        if not out.is_dir():
            raise ConfigError("--out", f"{out} exists and is not a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ConfigError("--out", f"{out} is not writable")
        return
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError("--out", f"cannot create {out}: {parent} is not a writable directory")


def train(args: argparse.Namespace) -> int:
    from ganviz.core.device import limit_threads
    from ganviz.core.metrics_log import CsvWriter, MetricsLog
    from ganviz.core.run import metric_columns, run_headless
    from ganviz.core.trainer import NonFiniteError, Trainer

    out = Path(args.out)
    try:
        cfg = TrainConfig.for_mode(args.mode, **{f: getattr(args, f) for f in TRAIN_FIELDS})
        _check_out_dir(out)
        trainer = Trainer(cfg)  # builds the task: unknown dataset or unreadable files fail here
    except ConfigError as exc:
        return fail(str(exc))
    except (ValueError, OSError) as exc:
        return fail(f"--dataset/--data-dir: {exc}")
    if trainer.device_notice:
        print(f"ganviz: notice: {trainer.device_notice}", file=sys.stderr)
    limit_threads(trainer.task.max_threads)
    wait_classifier = getattr(trainer.task, "wait_classifier", None)
    if wait_classifier is not None:  # so the first rows of metrics.csv have the classifier metrics
        print("ganviz: preparing the classifier for the image metrics…", file=sys.stderr)
        wait_classifier(300)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(trainer.cfg.to_json() + "\n", encoding="utf-8")
        csv = CsvWriter(out / "metrics.csv", metric_columns(trainer))
    except OSError as exc:
        return fail(f"--out: {exc}")

    log = MetricsLog(metric_columns(trainer), max_rows=20000)
    bar = _progress(cfg.steps)
    grid_image = getattr(trainer.task, "grid_image", None)
    save_grids = cfg.grid_every is not None and grid_image is not None

    def on_row(row: dict[str, float]) -> None:
        csv.write(row)
        if bar is not None and math.isfinite(row.get("jsd", math.nan)):
            bar.set_postfix(jsd=f"{row['jsd']:.4f}", refresh=False)
        if save_grids and row["step"] % cfg.grid_every == 0:
            _save_grid(grid_image(trainer.G), out / f"grid_{int(row['step']):06d}.png")

    start = time.perf_counter()
    status = 0
    try:
        _, why = run_headless(trainer, cfg.steps, cfg.log_every, on_row=on_row, log=log,
                              max_seconds=None if cfg.max_minutes is None else 60 * cfg.max_minutes,
                              on_progress=bar.update if bar is not None else None)
    except NonFiniteError as exc:
        why = "diverged"
        print(f"\nganviz: error: {exc}. The metrics measured before that are in {out / 'metrics.csv'}.",
              file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        why = "interrupted"
        status = 130
    except RuntimeError as exc:  # e.g. out of memory on the device: say so, keep what was written
        why = "diverged"
        print(f"\nganviz: error: training stopped: {exc}. The metrics measured before that are in "
              f"{out / 'metrics.csv'}.", file=sys.stderr)
        status = 1
    finally:
        csv.close()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    if why != "diverged":
        _write_final(trainer, log, out, grid_image)
    rate = trainer.iteration / seconds if seconds > 0 else math.nan
    last = log.last()
    summary = f"{why}: {trainer.iteration} iterations in {seconds:.1f} s ({rate:,.0f} it/s) on {trainer.device_name}"
    if math.isfinite(last.get("jsd", math.nan)):
        summary += f"; JSD {last['jsd']:.4f} nats, bound (V+log 4)/2 {last['jsd_d']:.4f}"
    print(f"{summary} -> {out}", file=sys.stderr)
    return status


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


def _write_final(trainer, log, out: Path, grid_image) -> None:
    from ganviz.core.snapshot import Snapshot
    from ganviz.ui.render import render_snapshot

    ev = trainer.evaluate(views=True)
    snap = Snapshot(mode=trainer.cfg.mode, iteration=trainer.iteration, device=trainer.device_name,
                    metrics={**log.last(), **ev.metrics}, history=log.copy(), views=ev.views,
                    target=trainer.task.describe())
    render_snapshot(snap, out / "final.png")
    if grid_image is not None:
        _save_grid(grid_image(trainer.G), out / "grid_final.png")


def _save_grid(image, path: Path) -> None:
    from ganviz.ui.render import save_gray_png

    save_gray_png(image, path)


def _progress(total: int):
    """A tqdm progress bar on an interactive terminal, else None (logs stay clean)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="it", dynamic_ncols=True, file=sys.stderr)
