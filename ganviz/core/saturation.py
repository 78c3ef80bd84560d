"""Saturation made visible (THEORY.md §4): D(G(z)) on a batch, and the norm of ∂loss/∂θ_G under both generator
losses, minimax log(1 − D(G(z))) and non-saturating −log D(G(z)), measured when a lane is published (never in
the training step: the loss G does not use costs training nothing)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ganviz.core import losses
from ganviz.core.frame import Saturation

MODES = ("1d", "2d")   # the toy modes, where a batch of D(G(z)) is cheap to read at every publish
MAX_POINTS = 4000      # gradient norms kept per lane (the oldest half is thinned when it fills)


def applies(cfg) -> bool:
    """The panel's quantities exist for the paper's D (a probability): the minimax and non-saturating losses."""
    return cfg.mode in MODES and losses.family(cfg.loss) == "vanilla"


def measure(trainer) -> tuple[np.ndarray, float, float]:
    """(D(G(z)) on one batch of fresh noise, ‖∂L_minimax/∂θ_G‖, ‖∂L_non-saturating/∂θ_G‖), against what the
    lane's G trains against: the network D, or the exact D* with d_oracle. The noise comes from its own
    generator (seeded by the lane's seed and iteration), so the training stream is untouched."""
    cfg, task, G = trainer.cfg, trainer.task, trainer.G
    gen = torch.Generator(device=trainer.device).manual_seed(cfg.seed * 1_000_003 + trainer.iteration + 5)
    params = [p for p in G.parameters() if p.requires_grad]
    d_star = task.d_star_grid(G) if cfg.d_oracle else None
    with torch.enable_grad():
        fake = G(task.sample_noise(cfg.batch, gen))
        if d_star is None:
            logits = trainer.D(fake)
            d = torch.sigmoid(logits)
            minimax, nonsat = losses.g_loss(logits, "minimax"), losses.g_loss(logits, "nonsaturating")
        else:
            d = d_star(fake)
            minimax = losses.g_loss_of_probability(d, "minimax")
            nonsat = losses.g_loss_of_probability(d, "nonsaturating")
        norms = [_norm(torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True))
                 for loss in (minimax, nonsat)]
    return d.detach().double().cpu().numpy(), norms[0], norms[1]


def _norm(grads) -> float:
    total = sum(float(g.square().sum()) for g in grads if g is not None)
    return math.sqrt(total)


class SaturationLog:
    """One lane's record: the newest batch of D(G(z)) and the gradient norms over training."""

    def __init__(self):
        self.d_fake = np.zeros(0)
        self.rows: list[tuple[int, float, float]] = []
        self._frame: Saturation | None = None

    def add(self, trainer) -> None:
        self.d_fake, minimax, nonsat = measure(trainer)
        step = trainer.iteration
        if self.rows and self.rows[-1][0] == step:
            self.rows[-1] = (step, minimax, nonsat)
        else:
            self.rows.append((step, minimax, nonsat))
        if len(self.rows) > MAX_POINTS:  # keep the whole run's shape: every other point of the older half
            half = len(self.rows) // 2
            self.rows = self.rows[:half:2] + self.rows[half:]
        self._frame = None

    def frame(self, cfg) -> Saturation:
        """The typed Frame layer (numpy copies), made again only after a new measurement."""
        if self._frame is None or self._frame.loss != cfg.loss or self._frame.d_oracle != cfg.d_oracle:
            rows = np.asarray(self.rows, dtype=np.float64).reshape(-1, 3)
            self._frame = Saturation(d_fake=self.d_fake.copy(), steps=rows[:, 0].copy(),
                                     grad_minimax=rows[:, 1].copy(), grad_nonsaturating=rows[:, 2].copy(),
                                     loss=cfg.loss, d_oracle=cfg.d_oracle)
        return self._frame
