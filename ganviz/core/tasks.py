"""Build the Task of a mode from the registry (`ganviz.core.modes`)."""

from __future__ import annotations

import torch

from ganviz.core import modes
from ganviz.core.config import TrainConfig
from ganviz.core.task import Task


def task_class(mode: str) -> type[Task]:
    return modes.load(modes.spec(mode).task)


def make_task(cfg: TrainConfig, device: torch.device) -> Task:
    """Build the Task of cfg.mode; raises ConfigError('--dataset', …) for a dataset it cannot use."""
    return task_class(cfg.mode)(cfg, device)
