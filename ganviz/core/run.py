"""The headless training loop shared by `ganviz train` and `ganviz bench`: train, measure, log, stop on time."""

from __future__ import annotations

import time
from collections.abc import Callable

from ganviz.core.metrics_log import MetricsLog
from ganviz.core.task import Evaluation
from ganviz.core.trainer import Trainer


def metric_columns(trainer: Trainer) -> tuple[str, ...]:
    return ("step", "d_loss", "g_loss", *trainer.task.metric_names)


def run_headless(trainer: Trainer, steps: int, log_every: int,
                 on_row: Callable[[dict[str, float]], None] | None = None,
                 max_seconds: float | None = None,
                 on_progress: Callable[[int], None] | None = None,
                 log: MetricsLog | None = None) -> tuple[Evaluation | None, str]:
    """Train `steps` iterations, evaluating every `log_every` (and at step 0 and the end).

    Each evaluated row goes to `on_row` and `log`. Returns the last evaluation and why the run
    stopped: "done" or "time". NonFiniteError propagates after the rows before it were delivered.
    """
    start = time.perf_counter()
    last: Evaluation | None = None

    def measure() -> None:
        nonlocal last
        last = trainer.evaluate(views=False)
        row = {"step": trainer.iteration, **last.metrics}
        if log is not None:
            log.append(row)
        if on_row is not None:
            on_row(row)

    target = trainer.iteration + steps
    measure()
    while trainer.iteration < target:
        n = min(log_every - trainer.iteration % log_every, target - trainer.iteration)
        trainer.step(n)
        if on_progress is not None:
            on_progress(n)
        if trainer.iteration % log_every == 0 or trainer.iteration == target:
            measure()
        if max_seconds is not None and time.perf_counter() - start >= max_seconds:
            if trainer.iteration % log_every:
                measure()
            return last, "time"
    return last, "done"
