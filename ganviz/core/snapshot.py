"""The one snapshot type: what the training thread publishes and the window draws (numpy copies only)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Snapshot:
    mode: str
    iteration: int = 0
    steps_per_s: float = 0.0
    device: str = ""
    state: str = "paused"  # paused | running | fitting | diverged
    metrics: dict[str, float] = field(default_factory=dict)        # the latest evaluation
    history: dict[str, np.ndarray] = field(default_factory=dict)   # "step" and every metric over time
    views: object | None = None  # the mode's typed picture (ganviz.core.frame layers), None before one is measured
    message: str = ""  # a notice for the user (device fallback, divergence, Fit D* result…)
    target: str = ""   # the task's one-line description of P_data
    run: int = 0       # which trainer made it (id of the Trainer), so a window can drop a stale one
