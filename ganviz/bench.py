"""`ganviz bench`: training speed of a plain PyTorch loop, of ganviz headless, and with the window open.

All three run the same model, batch and data sampler in one process, interleaved, and the medians
are compared with the targets of the foundation issue:
  headless ≥ 0.9 × plain loop, window ≥ 0.85 × headless, UI timer p99 lateness < 50 ms,
  and (1-D) ≥ 600 iterations/s, 10× GAN Lab's ~60.
With --lanes N, N batched lanes (the mode's defaults, lanes differing by seed) against one lane, both
through a Session (issue 9): 16 lanes of 1-D ≥ 2× one lane's throughput and ≥ 120 it/s per lane,
9 lanes of 2-D ≥ 60 it/s per lane.
With --record, also headless while `train --record` keeps its frames and the window while its Record
button grabs the view: each at most 10% slower than without (issue 10).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.session import Session
from ganviz.core.trainer import Trainer

GANLAB_ITERATIONS_PER_S = 60.0
UI_TIMER_MS = 10


def plain_loop(trainer: Trainer, seconds: float) -> float:
    """Iterations/s of a textbook PyTorch GAN loop (Algorithm 1 with the config's k D updates and k_G
    G updates, and the model's lazy R1 step if it has one) on the trainer's models, optimizers, batch
    and sampler: separate D passes on real and fake, BCE against label tensors."""
    task, G, D, gen, m = trainer.task, trainer.G, trainer.D, trainer.gen, trainer.cfg.batch
    opt_d, opt_g = trainer.opt_d, trainer.opt_g
    ones = torch.ones(m, device=trainer.device)
    zeros = torch.zeros(m, device=trainer.device)
    n, d_updates, start = 0, 0, time.perf_counter()
    while True:
        for _ in range(20):
            for _ in range(trainer.cfg.k):
                real = task.sample_real(m, gen)
                fake = G(task.sample_noise(m, gen)).detach()
                loss_d = F.binary_cross_entropy_with_logits(D(real), ones) + \
                    F.binary_cross_entropy_with_logits(D(fake), zeros)
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
                d_updates += 1
                trainer.r1_after(d_updates)  # the model's lazy R1 step, if it has one
            for _ in range(trainer.cfg.k_g):
                loss_g = F.binary_cross_entropy_with_logits(D(G(task.sample_noise(m, gen))), ones)
                opt_g.zero_grad()
                loss_g.backward()
                opt_g.step()
        n += 20
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            _sync(trainer.device)
            return n / (time.perf_counter() - start)


def headless(session: Session, seconds: float) -> float:
    """Iterations/s of each lane of `ganviz train`'s loop: Session.run, measuring every log_every iterations."""
    start_it, start = session.lanes[0].trainer.iteration, time.perf_counter()
    session.run(10**9, session.cfg.log_every, max_seconds=seconds)
    _sync(session.device)
    return (session.lanes[0].trainer.iteration - start_it) / (time.perf_counter() - start)


def headless_recording(cfg: TrainConfig, seconds: float) -> float:
    """`headless`, while `ganviz train --record` keeps its frames: a run of the mode's default length
    (cfg.steps, measured every cfg.log_every) keeps MAX_FRAMES pictures, so one measured row in
    rows/MAX_FRAMES also evaluates the pictures. Drawing them happens after training, not timed here."""
    from ganviz.recording import HeadlessRecorder

    session = Session(cfg)
    recorder = HeadlessRecorder(session, Path("unused.gif"), fps=5, steps=cfg.steps, log_every=cfg.log_every)
    try:
        return headless(session, seconds)
    finally:
        session.on_row.remove(recorder.on_row)
        session.close()


def window_run(cfg: TrainConfig, seconds: float, lanes: int = 1, record: bool = False) -> tuple[float, np.ndarray]:
    """Iterations/s of each lane with the window open and training (offscreen), `lanes` lanes of `cfg`
    differing by seed, and the lateness (ms) of a 10 ms UI timer measured meanwhile. With `record`,
    the Record button grabs the view meanwhile (its frames are discarded)."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from ganviz.ui import MainWindow
    from ganviz.ui.render import ensure_app

    ensure_app()
    window = MainWindow(mode=cfg.mode, dataset=cfg.dataset, device=cfg.device)
    window.resize(1280, 820)
    window.show()
    window.speed_combo.setCurrentIndex(0)  # "max": the window starts the toy modes slower, to be followed
    if lanes > 1:
        window.worker.replace_session(Session([cfg.replace(seed=cfg.seed + i) for i in range(lanes)]))
    lateness: list[float] = []
    clock = QElapsedTimer()
    loop = QEventLoop()

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        lateness.append(max(0.0, now - tick.last - UI_TIMER_MS))
        tick.last = now

    timer = QTimer()
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.setInterval(UI_TIMER_MS)
    timer.timeout.connect(tick)
    window.play_button.setChecked(True)
    QTimer.singleShot(1000, loop.quit)  # warm-up: first snapshots, first paints
    loop.exec()
    trainer = window.worker.session.lanes[0].trainer  # read-only from this thread: an int
    start_it, start = trainer.iteration, time.perf_counter()
    clock.start()
    tick.last = 0.0
    timer.start()
    if record:
        window.recorder.start()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    rate = (trainer.iteration - start_it) / (time.perf_counter() - start)
    if record:
        window.recorder.stop(None)
    window.close()
    return rate, np.array(lateness[1:])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


LANE_TARGETS = {  # mode: (lanes the target is for, per-lane it/s, × one lane's throughput)
    "1d": (16, 120.0, 2.0),
    "2d": (9, 60.0, None),
}
MAX_SECONDS = 3600.0
MAX_REPEATS = 100


def fail(message: str) -> int:
    print(f"ganviz bench: error: {message}", file=sys.stderr)
    return 2


def check_args(args: argparse.Namespace) -> TrainConfig:
    """Raise ConfigError naming the option for values the bench cannot run with."""
    if not (1 <= args.repeats <= MAX_REPEATS):
        raise ConfigError("--repeats", f"must be between 1 and {MAX_REPEATS} (got {args.repeats})")
    if not (math.isfinite(args.seconds) and 0 < args.seconds <= MAX_SECONDS):
        raise ConfigError("--seconds", f"must be a number of seconds above 0 and at most {MAX_SECONDS:g} "
                                       f"(got {args.seconds!r})")
    if args.lanes is not None:
        from ganviz.sweep import MAX_LANES

        if not (2 <= args.lanes <= MAX_LANES):
            raise ConfigError("--lanes", f"must be between 2 and {MAX_LANES} (got {args.lanes})")
    return TrainConfig.for_mode(args.mode, dataset=args.dataset, device=args.device)


def run_bench(args: argparse.Namespace) -> int:
    from ganviz.core.device import keep_freed_memory, leave_core_for_ui, limit_threads

    keep_freed_memory()  # as every Session does: the plain loop is timed under the same allocator settings

    try:
        cfg = check_args(args)
        trainer = Trainer(cfg)  # builds the task: an unknown dataset fails here
    except ConfigError as exc:
        return fail(str(exc))
    except (ValueError, OSError) as exc:
        return fail(f"--dataset: {exc}")
    if not args.no_window:
        from ganviz.runfiles import qt_unavailable

        if qt_unavailable():
            print(f"ganviz bench: the window part is skipped: {qt_unavailable()} (the window needs Qt: see the "
                  "README's Install section); the headless figures follow", flush=True)
            args.no_window = True
    if args.lanes is not None:
        return run_lanes_bench(args, cfg, trainer)
    with_window = not args.no_window
    if with_window:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        # The window leaves a core for painting; measure every variant under the same thread count.
        leave_core_for_ui()
    limit_threads(trainer.task.max_threads)
    _header(cfg, trainer)
    wait_classifier = getattr(trainer.task, "wait_classifier", None)
    if wait_classifier is not None:  # train/load the metric classifier before anything is timed
        wait_classifier(300)
    plain_loop(trainer, 0.5)  # warm-up
    plain, head, win, late, head_rec, win_rec = [], [], [], [], [], []
    for r in range(args.repeats):
        plain.append(plain_loop(Trainer(cfg), args.seconds))
        session = Session(cfg)
        head.append(headless(session, args.seconds))
        session.close()
        if args.record:
            head_rec.append(headless_recording(cfg, args.seconds))
        if with_window:
            rate, lateness = window_run(cfg, args.seconds)
            win.append(rate)
            late.append(lateness)
            if args.record:
                win_rec.append(window_run(cfg, args.seconds, record=True)[0])
        print(f"  repeat {r + 1}: plain {plain[-1]:,.0f} it/s, headless {head[-1]:,.0f} it/s"
              + (f", recording {head_rec[-1]:,.0f} it/s" if args.record else "")
              + (f", window {win[-1]:,.0f} it/s" if with_window else "")
              + (f", recording {win_rec[-1]:,.0f} it/s" if with_window and args.record else ""), flush=True)
    p, h = statistics.median(plain), statistics.median(head)
    unit = "images/s" if cfg.mode == "mnist" else "it/s"
    scale = cfg.batch if cfg.mode == "mnist" else 1
    rows = [("plain PyTorch loop", p * scale, ""), ("ganviz headless", h * scale, _check(h / p, 0.9, "× plain"))]
    if cfg.mode == "1d":
        rows.append(("  vs GAN Lab (~60 it/s)", h / GANLAB_ITERATIONS_PER_S, _check(h, 600, " it/s ≥ 600")))
    results = [h / p >= 0.9]
    if with_window:
        w = statistics.median(win)
        lat = np.concatenate(late)
        p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
        rows.append(("ganviz window open", w * scale, _check(w / h, 0.85, "× headless")))
        rows.append(("UI timer lateness p50/p99 ms", p99, f"{p50:.1f} / {p99:.1f} ms " + ("PASS" if p99 < 50 else "FAIL")
                     + " (p99 < 50 ms)"))
        results += [w / h >= 0.85, p99 < 50]
    if head_rec:
        hr = statistics.median(head_rec)
        rows.append(("headless, train --record", hr * scale, _check(hr / h, 0.9, "× headless")))
        results.append(hr / h >= 0.9)
    if win_rec:
        wr = statistics.median(win_rec)
        rows.append(("window, Record pressed", wr * scale, _check(wr / w, 0.9, "× window")))
        results.append(wr / w >= 0.9)
    if cfg.mode == "1d":
        results.append(h >= 600)
    print()
    for name, value, verdict in rows:
        shown = f"{value:,.1f}×" if name.startswith("  vs") else (f"{value:,.0f} {unit}" if "lateness" not in name else "")
        print(f"{name:<32}{shown:>16}   {verdict}")
    print("\nall targets met" if all(results) else "\nsome targets missed")
    return 0


def _header(cfg: TrainConfig, trainer: Trainer, lanes: int | None = None) -> None:
    print(f"ganviz bench: mode {cfg.mode}, target {cfg.dataset}, batch {cfg.batch}, hidden {cfg.hidden}×{cfg.layers}, "
          f"log every {cfg.log_every}" + (f", {lanes} lanes differing by seed" if lanes else ""))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {trainer.device_name}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)")


def run_lanes_bench(args: argparse.Namespace, cfg: TrainConfig, trainer: Trainer) -> int:
    """Lane-iterations/s of N batched lanes against one lane, both through a Session, interleaved."""
    from ganviz.core.device import leave_core_for_ui, limit_threads

    n = args.lanes
    if not args.no_window:
        # Measured with the training threads the window leaves itself, so the figures are comparable.
        leave_core_for_ui()
    limit_threads(trainer.task.max_threads)
    _header(cfg, trainer, n)
    cfgs = [cfg.replace(seed=cfg.seed + i) for i in range(n)]
    one, many = Session(cfg), Session(cfgs)
    for lane in one.lanes + many.lanes:
        wait = getattr(lane.trainer.task, "wait_classifier", None)
        if wait is not None:
            wait(300)
    print(f"training groups of the {n} lanes: {len(many.groups())} "
          f"({'batched' if len(many.groups()) < n else 'one lane each'})")
    headless(one, min(0.5, args.seconds))  # warm-up
    headless(many, min(0.5, args.seconds))
    single, batched, windowed, late = [], [], [], []
    for r in range(args.repeats):
        single.append(headless(one, args.seconds))
        batched.append(headless(many, args.seconds))
        line = (f"  repeat {r + 1}: 1 lane {single[-1]:,.0f} it/s, {n} lanes {batched[-1]:,.0f} it/s per lane "
                f"({n * batched[-1]:,.0f} lane-it/s)")
        if not args.no_window:
            rate, lateness = window_run(cfg, args.seconds, lanes=n)
            windowed.append(rate)
            late.append(lateness)
            line += f", window open {rate:,.0f} it/s per lane"
        print(line, flush=True)
    one.close()
    many.close()
    s, b = statistics.median(single), statistics.median(batched)
    ratio = n * b / s
    print()
    print(f"{'1 lane, headless':<36}{s:>12,.0f} it/s")
    print(f"{f'{n} lanes, headless, per lane':<36}{b:>12,.0f} it/s")
    print(f"{f'{n} lanes, headless, all lanes':<36}{n * b:>12,.0f} lane-it/s")
    print(f"{'throughput vs one lane':<36}{ratio:>12.2f}×")
    w = statistics.median(windowed) if windowed else None
    if w is not None:
        lat = np.concatenate(late)
        print(f"{f'{n} lanes, window open, per lane':<36}{w:>12,.0f} it/s")
        print(f"{'UI timer lateness p50 / p99':<36}{np.percentile(lat, 50):>9.1f} / {np.percentile(lat, 99):.1f} ms")
    target = LANE_TARGETS.get(cfg.mode)
    results = []
    if target is not None and target[0] == n:
        _, per_lane, times = target
        shown = w if w is not None else b
        where = "window open" if w is not None else "headless (--no-window)"
        print(f"\ntargets for {n} lanes of the {cfg.mode} default (issue 9, with the window open):")
        ok = shown >= per_lane
        results.append(ok)
        print(f"  per lane ≥ {per_lane:g} it/s, {where}: {shown:,.0f} it/s {'PASS' if ok else 'FAIL'}")
        if times is not None:
            ok = ratio >= times
            results.append(ok)
            print(f"  throughput ≥ {times:g}× one lane (headless): {ratio:.2f}× {'PASS' if ok else 'FAIL'}")
    if not results:
        print("\nno targets for this mode and number of lanes (issue 9 sets them for 16 lanes of 1d, 9 of 2d)")
    else:
        print("\nall targets met" if all(results) else "\nsome targets missed")
    return 0


def _check(value: float, target: float, what: str) -> str:
    return f"{value:.2f}{what} " + ("PASS" if value >= target else "FAIL") + (f" (≥ {target:g})" if "×" in what else "")
