"""The registry of modes: `make_task(cfg, device)` builds the Task for cfg.mode."""

from __future__ import annotations

import importlib

import torch

from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.task import Task

# mode -> "module:Class"; imported on demand so a mode's dependencies load only when it is used.
TASKS = {
    "1d": "ganviz.core.toy1d:Toy1DTask",
    "2d": "ganviz.core.toy2d:Toy2DTask",
    "mnist": "ganviz.core.mnist.task:MnistTask",
}


def task_class(mode: str) -> type[Task]:
    if mode not in TASKS:
        raise ConfigError("--mode", f"unknown mode {mode!r}; choose one of {', '.join(TASKS)}")
    module, name = TASKS[mode].split(":")
    return getattr(importlib.import_module(module), name)


def make_task(cfg: TrainConfig, device: torch.device) -> Task:
    """Build the Task of cfg.mode; raises ConfigError('--dataset', …) for a dataset it cannot use."""
    return task_class(cfg.mode)(cfg, device)
