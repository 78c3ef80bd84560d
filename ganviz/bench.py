"""`ganviz bench`: training speed of a plain PyTorch loop, of ganviz headless, and with the window open.

All three run the same model, batch and data sampler in one process, interleaved, and the medians
are compared with the targets of the foundation issue:
  headless ≥ 0.9 × plain loop, window ≥ 0.85 × headless, UI timer p99 lateness < 50 ms,
  and (1-D) ≥ 600 iterations/s, 10× GAN Lab's ~60.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from ganviz.core.config import TrainConfig
from ganviz.core.run import run_headless
from ganviz.core.trainer import Trainer

GANLAB_ITERATIONS_PER_S = 60.0
UI_TIMER_MS = 10


def plain_loop(trainer: Trainer, seconds: float) -> float:
    """Iterations/s of a textbook PyTorch GAN loop (Algorithm 1 with k = 1) on the trainer's models,
    optimizers, batch and sampler: separate D passes on real and fake, BCE against label tensors."""
    task, G, D, gen, m = trainer.task, trainer.G, trainer.D, trainer.gen, trainer.cfg.batch
    opt_d, opt_g = trainer.opt_d, trainer.opt_g
    ones = torch.ones(m, device=trainer.device)
    zeros = torch.zeros(m, device=trainer.device)
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(20):
            real = task.sample_real(m, gen)
            fake = G(task.sample_noise(m, gen)).detach()
            loss_d = F.binary_cross_entropy_with_logits(D(real), ones) + \
                F.binary_cross_entropy_with_logits(D(fake), zeros)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = F.binary_cross_entropy_with_logits(D(G(task.sample_noise(m, gen))), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        n += 20
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            _sync(trainer.device)
            return n / (time.perf_counter() - start)


def headless(trainer: Trainer, seconds: float) -> float:
    """Iterations/s of `ganviz train`'s loop (evaluating every log_every iterations)."""
    start_it, start = trainer.iteration, time.perf_counter()
    run_headless(trainer, 10**9, trainer.cfg.log_every, max_seconds=seconds)
    _sync(trainer.device)
    return (trainer.iteration - start_it) / (time.perf_counter() - start)


def window_run(cfg: TrainConfig, seconds: float) -> tuple[float, np.ndarray]:
    """Iterations/s with the window open and training (offscreen), and the lateness (ms) of a
    10 ms UI timer measured meanwhile."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from ganviz.ui import MainWindow
    from ganviz.ui.render import ensure_app

    ensure_app()
    window = MainWindow(mode=cfg.mode, dataset=cfg.dataset, device=cfg.device)
    window.resize(1280, 820)
    window.show()
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
    trainer = window.worker.trainer
    start_it, start = trainer.iteration, time.perf_counter()
    clock.start()
    tick.last = 0.0
    timer.start()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    rate = (trainer.iteration - start_it) / (time.perf_counter() - start)
    window.close()
    return rate, np.array(lateness[1:])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_bench(args: argparse.Namespace) -> int:
    from ganviz.core.device import leave_core_for_ui, limit_threads

    cfg = TrainConfig.for_mode(args.mode, dataset=args.dataset, device=args.device)
    with_window = not args.no_window
    if with_window:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        # The window leaves a core for painting; measure every variant under the same thread count.
        leave_core_for_ui()
    trainer = Trainer(cfg)
    limit_threads(trainer.task.max_threads)
    print(f"ganviz bench: mode {cfg.mode}, target {cfg.dataset}, batch {cfg.batch}, hidden {cfg.hidden}×{cfg.layers}, "
          f"log every {cfg.log_every}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {trainer.device_name}, "
          f"torch {torch.__version__}")
    wait_classifier = getattr(trainer.task, "wait_classifier", None)
    if wait_classifier is not None:  # train/load the metric classifier before anything is timed
        wait_classifier(300)
    plain_loop(trainer, 0.5)  # warm-up
    plain, head, win, late = [], [], [], []
    for r in range(args.repeats):
        plain.append(plain_loop(Trainer(cfg), args.seconds))
        head.append(headless(Trainer(cfg), args.seconds))
        if with_window:
            rate, lateness = window_run(cfg, args.seconds)
            win.append(rate)
            late.append(lateness)
        print(f"  repeat {r + 1}: plain {plain[-1]:,.0f} it/s, headless {head[-1]:,.0f} it/s"
              + (f", window {win[-1]:,.0f} it/s" if with_window else ""), flush=True)
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
    if cfg.mode == "1d":
        results.append(h >= 600)
    print()
    for name, value, verdict in rows:
        shown = f"{value:,.1f}×" if name.startswith("  vs") else (f"{value:,.0f} {unit}" if "lateness" not in name else "")
        print(f"{name:<32}{shown:>16}   {verdict}")
    print("\nall targets met" if all(results) else "\nsome targets missed")
    return 0


def _check(value: float, target: float, what: str) -> str:
    return f"{value:.2f}{what} " + ("PASS" if value >= target else "FAIL") + (f" (≥ {target:g})" if "×" in what else "")
