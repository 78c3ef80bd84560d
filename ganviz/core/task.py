"""What a mode of ganviz is: P_data, the shapes of G and D, and what can be measured about them.

The trainer runs Algorithm 1 on any Task; each mode (1-D, 2-D, MNIST) is one Task subclass
registered in `ganviz.core.tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ganviz.core.config import TrainConfig


@dataclass
class Evaluation:
    """Scalar metrics (for the divergence plot and metrics.csv) and, when asked for, the mode's typed
    picture (a frozen dataclass of `ganviz.core.frame` layers that the mode's view draws)."""

    metrics: dict[str, float] = field(default_factory=dict)
    picture: object | None = None


class Task:
    """One mode. Subclasses set `mode`, `metric_names` and implement the methods below."""

    mode: ClassVar[str] = ""
    # Columns of metrics.csv after `step,d_loss,g_loss`, in order. Every task reports at least
    # `v` (V(G,D) on a large sample or the grid), `d_real` and `d_fake`.
    metric_names: ClassVar[tuple[str, ...]] = ()
    # Dataset names offered in the UI and accepted by --dataset (a task may accept more, e.g. files).
    datasets: ClassVar[tuple[str, ...]] = ()
    # D sees real and fake in one forward pass; a D with batch statistics (BatchNorm) sets False.
    fused_d_forward: ClassVar[bool] = True
    # Intra-op threads worth using; None = torch's default. Tiny MLPs gain nothing from more than
    # one, and spinning OpenMP threads slow them down badly when another process is busy.
    max_threads: ClassVar[int | None] = None
    # The share by which the bound (V + log 4)/2 reads below the JSD even with D = D*, where V is
    # measured on coarser cells than the JSD (2-D); Fit D*'s message allows it (session.fit_message).
    bound_cells_gap: ClassVar[float] = 0.0
    # γ of a lazy R1 penalty on D (losses.r1_penalty): every R1_EVERY D updates the Trainer takes one
    # more step of D on the penalty (times R1_EVERY) over a fresh real batch. 0: none.
    r1_gamma: float = 0.0
    # A task that runs its own updates (e.g. the Dirac-GAN's simultaneous steps) sets True and
    # implements `step`; the Trainer's `step` then delegates to it instead of running Algorithm 1.
    steps_itself: ClassVar[bool] = False

    def data_extent(self) -> float | None:
        """The size of the region P_data lives in (None: no such notion, e.g. images in [-1, 1]).
        A G whose samples lie 1000 times farther out has diverged (Trainer.evaluate)."""
        return None

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg = cfg
        self.device = device

    # --- models -------------------------------------------------------------------------------
    def build_generator(self) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(self) -> nn.Module:
        """A module returning one logit per input: shape (m,)."""
        raise NotImplementedError

    def step(self, trainer, n: int) -> None:
        """Run `n` iterations on `trainer` (its G, D, optimizers, cfg; report with trainer.tally);
        only called when `steps_itself` is True."""
        raise NotImplementedError

    def d_star_grid(self, G: nn.Module):
        """D* = p_data/(p_data + p_G) of G's current P_G as a `ganviz.core.oracle.DStarGrid` (the toy modes,
        whose densities are known on a grid: TrainConfig's d_oracle is refused elsewhere)."""
        raise NotImplementedError(f"{self.mode}: no D* on a grid")

    # --- sampling (the hot path: no host syncs, reuse buffers where possible) -------------------
    def sample_real(self, m: int, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def sample_noise(self, m: int, gen: torch.Generator) -> torch.Tensor:
        """z ~ P_z on the device: standard normal or uniform on [-1, 1], per cfg.noise."""
        z = torch.empty(m, self.cfg.noise_dim, device=self.device)
        if self.cfg.noise == "uniform":
            return z.uniform_(-1.0, 1.0, generator=gen)
        return z.normal_(generator=gen)

    # --- measuring ------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, G: nn.Module, D: nn.Module, gen: torch.Generator, views: bool = True,
                 loss: str | None = None) -> Evaluation:
        """Metrics named in `metric_names`; with views=True also the picture the window draws (else picture None).
        `loss` is the lane's generator loss (lanes may share a task but differ in it)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line naming the target, e.g. 'bimodal: 0.5 N(-2, 0.5²) + 0.5 N(2, 0.5²)'."""
        return self.cfg.dataset
