"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018; THEORY.md §9): the smallest GAN, one parameter each.

P_data = δ_0, G(z) = θ (so P_G = δ_θ), and D's logit (or the critic) is l(x) = ψ·x, so D(x) = σ(ψx)
for the vanilla losses. The losses are ganviz's own (`ganviz.core.losses`, the same sign convention
as every other mode: real data gets label 1), so with f(t) = −log(1 + e^{−t}) the vanilla (minimax)
gradient vector field of plain gradient steps is

    v(θ, ψ) = (θ̇, ψ̇) = ( ψ·f′(−θψ), −θ·f′(−θψ) ),   f′(t) = σ(−t), f′(0) = 1/2.

(The paper writes D with the opposite sign of ψ, which turns this into its (−ψ·f′(θψ), θ·f′(θψ)); the
picture is the same mirrored in ψ.) Its Jacobian at the only equilibrium (0, 0) is [[0, ½], [−½, 0]]:
eigenvalues ±i/2, so simultaneous steps spiral out and alternating steps circle.

Regularisers (on D's logit, as in the paper): R1 = (γ/2)·E_data[‖∇ₓl‖²] and R2 the same on P_G; for a
linear D, ∇ₓ(ψx) = ψ at every x, so both are (γ/2)·ψ². Instance noise adds N(0, σ²) to real and fake
samples; the expectation is taken on 64 fixed normal quantiles, so the field stays deterministic.
WGAN-GP's penalty λ·E[(‖∇ₓf‖ − 1)²] is λ·(|ψ| − 1)² (λ = losses.GP_LAMBDA = 10); the clipped WGAN keeps
the linear critic 1-Lipschitz by clipping ψ to [−1, 1] (the networks' clip at 0.01 would freeze ψ).

Why a Task hook, not the Trainer's loop: Algorithm 1 (ganviz.core.trainer) is alternating by nature,
and simultaneous updates need both gradients at the same (θ, ψ) before either player moves. Rather
than teach the generic loop a second update order used by one mode, a Task may set `steps_itself`
and implement `step(trainer, n)`; the Trainer then delegates its `step` to it. This task runs both
orders itself (so the regularisers and the exact noise expectation live in one place), through the
Trainer's own optimizers (plain SGD by default: the paper's gradient steps, with live learning
rates) and its loss tallies, and it honours a frozen G (Fit D*). Each lane's trajectory is kept on
its G module (tasks are shared by lanes of one seed).

Settings (TrainConfig.extra, filled from `DEFAULTS`): loss minimax | nonsaturating | wgan | wgan-gp
(cfg.loss), reg none | r1 | r2 | noise, gamma (γ of R1/R2), noise_std (σ of instance noise),
update simultaneous | alternating, theta0, psi0 (the start point). In simultaneous mode each iteration
is one step of both players from the same point; k and k_G count the D and G steps of an alternating
iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from torch import nn

from ganviz.core import losses
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.frame import Arrows, Scatter
from ganviz.core.task import Evaluation, Task

LOSSES = ("minimax", "nonsaturating", "wgan", "wgan-gp")  # = the registry's extra["losses"] (tested)
REGS = ("none", "r1", "r2", "noise")
UPDATES = ("simultaneous", "alternating")
DEFAULTS: dict[str, Any] = dict(reg="none", gamma=1.0, noise_std=0.5, update="simultaneous", theta0=1.0, psi0=1.0)
OPTIONS = {"reg": "--reg", "gamma": "--gamma", "noise_std": "--noise-std", "update": "--update",
           "theta0": "--theta0", "psi0": "--psi0"}
NOISE_NODES = 64
TRAIL = 2000          # points of the live trajectory kept (one per iteration)
GRID = 17             # arrows per side of the vector field
START_LIMIT = 10.0    # |θ0|, |ψ0| at most this


def settings(extra: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULTS with the Dirac keys of `extra` applied."""
    out = dict(DEFAULTS)
    out.update({key: val for key, val in (extra or {}).items() if key in DEFAULTS})
    return out


def validate(cfg: TrainConfig) -> None:
    """Raise ConfigError naming the option: Dirac settings outside the Dirac mode, or unusable ones in it."""
    extra = cfg.extra if isinstance(cfg.extra, dict) else {}
    if cfg.mode != "dirac":
        for key in extra:
            if key in OPTIONS:
                raise ConfigError(OPTIONS[key], "applies only to --mode dirac")
        return
    for key in extra:
        if key not in OPTIONS:
            raise ConfigError(f"--{key.replace('_', '-')}", "not a setting of the Dirac-GAN")
    if cfg.loss not in LOSSES:
        raise ConfigError("--loss", f"the Dirac-GAN trains with {', '.join(LOSSES)} (got {cfg.loss!r})")
    s = settings(extra)
    if s["reg"] not in REGS:
        raise ConfigError("--reg", f"must be one of {', '.join(REGS)} (got {s['reg']!r})")
    if s["update"] not in UPDATES:
        raise ConfigError("--update", f"must be one of {', '.join(UPDATES)} (got {s['update']!r})")
    for key in ("gamma", "noise_std"):
        val = s[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or val <= 0:
            raise ConfigError(OPTIONS[key], f"must be a positive finite number (got {val!r})")
    for key in ("theta0", "psi0"):
        val = s[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not abs(val) <= START_LIMIT:
            raise ConfigError(OPTIONS[key], f"must be a number in [-{START_LIMIT:g}, {START_LIMIT:g}] (got {val!r})")


@dataclass(frozen=True)
class PictureDirac:
    """The (θ, ψ) plane: the gradient vector field on a grid (raw vectors, one step of rate 1), the
    last TRAIL points of the trajectory, the current point and the plotted extent (half-width)."""

    field: Arrows
    trail: Scatter
    point: np.ndarray       # (2,) current (θ, ψ)
    start: np.ndarray       # (2,) the run's start point
    extent: float           # the plane shown is [−extent, extent]²
    title: str


class Param(nn.Module):
    """One scalar parameter `value`: D's ψ, whose forward is the logit l(x) = ψx, shape (m,)."""

    def __init__(self, value: float):
        super().__init__()
        self.value = nn.Parameter(torch.tensor([float(value)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.value * x).squeeze(-1)


class Point(Param):
    """G's θ: every z is mapped to θ, shape (m, 1)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.value.expand(len(z), 1)


def field(theta: torch.Tensor, psi: torch.Tensor, loss: str, reg: str = "none", gamma: float = 1.0,
          noise_std: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(∂L_G/∂θ, ∂L_D/∂ψ, L_D, L_G) at every (θ, ψ) pair of the (P,) tensors: plain gradient steps move
    by minus these. L_D includes the regulariser (and WGAN-GP's penalty)."""
    with torch.enable_grad():
        return _field(theta, psi, loss, reg, gamma, noise_std)


def _field(theta, psi, loss, reg, gamma, noise_std):
    theta = theta.detach().double().requires_grad_(True)
    psi = psi.detach().double().requires_grad_(True)
    if reg == "noise":
        eps = torch.tensor([NormalDist().inv_cdf((j + 0.5) / NOISE_NODES) for j in range(NOISE_NODES)],
                           dtype=torch.float64) * noise_std
    else:
        eps = torch.zeros(1, dtype=torch.float64)
    real = eps.expand(len(theta), -1)                      # (P, m) samples of P_data (+ noise)
    fake = theta[:, None] + eps                            # (P, m) samples of P_G (+ noise)
    loss_d = losses.d_loss(psi[:, None] * real, psi[:, None] * fake.detach(), loss)
    if reg in ("r1", "r2"):
        loss_d = loss_d + 0.5 * gamma * psi.square()       # ‖∇ₓ(ψx)‖² = ψ² on P_data and on P_G alike
    if loss == "wgan-gp":
        loss_d = loss_d + losses.GP_LAMBDA * (psi.abs() - 1).square()
    loss_g = losses.g_loss(psi.detach()[:, None] * fake, loss)
    g_psi, = torch.autograd.grad(loss_d.sum(), psi)
    g_theta, = torch.autograd.grad(loss_g.sum(), theta)
    return g_theta, g_psi, loss_d.detach(), loss_g.detach()


def vector_field(theta: np.ndarray, psi: np.ndarray, loss: str, **reg: Any) -> np.ndarray:
    """(θ̇, ψ̇) of plain gradient steps (rate 1) at the points, shape (n, 2)."""
    g_theta, g_psi, _, _ = field(torch.as_tensor(np.ravel(theta), dtype=torch.float64),
                                 torch.as_tensor(np.ravel(psi), dtype=torch.float64), loss, **reg)
    return -np.stack([g_theta.numpy(), g_psi.numpy()], axis=1)


class DiracTask(Task):
    mode = "dirac"
    metric_names = ("theta", "psi", "dist", "v", "d_real", "d_fake")
    datasets = ("dirac",)
    steps_itself = True

    def __init__(self, cfg: TrainConfig, device: torch.device):
        super().__init__(cfg, device)
        if cfg.dataset not in self.datasets:
            raise ConfigError("--dataset", f"the Dirac-GAN's P_data is δ_0: its dataset is 'dirac' (got {cfg.dataset!r})")
        self.settings = settings(cfg.extra)

    def _reg(self) -> dict[str, Any]:
        s = self.settings
        return dict(reg=s["reg"], gamma=float(s["gamma"]), noise_std=float(s["noise_std"]))

    # --- models -----------------------------------------------------------------------------------
    def build_generator(self) -> nn.Module:
        G = Point(self.settings["theta0"])
        G.trail = np.full((TRAIL, 2), np.nan)
        G.trail_count = 0
        self._record(G, float(self.settings["theta0"]), float(self.settings["psi0"]))
        return G

    def build_discriminator(self) -> nn.Module:
        return Param(self.settings["psi0"])

    def sample_real(self, m: int, gen: torch.Generator) -> torch.Tensor:
        return torch.zeros(m, 1, device=self.device)

    @staticmethod
    def _record(G: nn.Module, theta: float, psi: float) -> None:
        G.trail[G.trail_count % TRAIL] = (theta, psi)
        G.trail_count += 1

    # --- the update (simultaneous or alternating), see the module docstring -----------------------------
    def step(self, trainer, n: int) -> None:
        cfg = trainer.cfg
        G, D, loss = trainer.G, trainer.D, cfg.loss
        theta, psi = G.value, D.value
        reg = self._reg()
        simultaneous = self.settings["update"] == "simultaneous"
        frozen = trainer.g_frozen
        d_sum = g_sum = 0.0
        d_n = g_n = 0

        def d_step(g_psi: torch.Tensor) -> None:
            psi.grad = g_psi.to(psi.dtype).reshape(1)
            trainer.opt_d.step()
            if loss == "wgan":
                with torch.no_grad():
                    psi.clamp_(-1.0, 1.0)

        def g_step(g_theta: torch.Tensor) -> None:
            theta.grad = g_theta.to(theta.dtype).reshape(1)
            trainer.opt_g.step()

        for _ in range(n):
            if simultaneous:
                g_theta, g_psi, ld, lg = field(theta, psi, loss, **reg)
                d_step(g_psi)
                d_sum, d_n = d_sum + float(ld), d_n + 1
                if not frozen:
                    g_step(g_theta)
                    g_sum, g_n = g_sum + float(lg), g_n + 1
            else:
                for _ in range(cfg.k):
                    _, g_psi, ld, _ = field(theta, psi, loss, **reg)
                    d_step(g_psi)
                    d_sum, d_n = d_sum + float(ld), d_n + 1
                if not frozen:
                    for _ in range(cfg.k_g):
                        g_theta, _, _, lg = field(theta, psi, loss, **reg)
                        g_step(g_theta)
                        g_sum, g_n = g_sum + float(lg), g_n + 1
            self._record(G, float(theta.detach()), float(psi.detach()))
            trainer.iteration += 1
        trainer.tally(d_sum, d_n, g_sum, g_n)

    # --- measuring ----------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, G: nn.Module, D: nn.Module, gen: torch.Generator, views: bool = True,
                 loss: str | None = None) -> Evaluation:
        loss = loss or self.cfg.loss
        theta, psi = float(G.value), float(D.value)
        if losses.family(loss) == "vanilla":
            d_real, d_fake = 0.5, 1.0 / (1.0 + math.exp(-max(-700.0, min(700.0, psi * theta))))
            v = float(losses.value_fn(torch.zeros(1), torch.tensor([psi * theta])))
        else:  # a critic: its values, and E_data f − E_G f
            d_real, d_fake = 0.0, psi * theta
            v = d_real - d_fake
        metrics = {"theta": theta, "psi": psi, "dist": math.hypot(theta, psi), "v": v,
                   "d_real": d_real, "d_fake": d_fake}
        picture = self.picture(G, theta, psi, loss) if views else None
        return Evaluation(metrics, picture)

    def picture(self, G: nn.Module, theta: float, psi: float, loss: str) -> PictureDirac:
        count = min(G.trail_count, TRAIL)
        order = (np.arange(G.trail_count - count, G.trail_count) % TRAIL) if count else np.arange(0)
        trail = G.trail[order].copy()
        s = self.settings
        start = np.array([s["theta0"], s["psi0"]], dtype=float)
        reach = max(np.abs(start).max(), abs(theta), abs(psi)) if math.isfinite(theta + psi) else 2.0
        extent = nice_extent(1.25 * reach)
        ticks = np.linspace(-extent, extent, GRID)
        tt, pp = np.meshgrid(ticks, ticks)
        vectors = vector_field(tt, pp, loss, **self._reg())
        return PictureDirac(field=Arrows(np.stack([tt.ravel(), pp.ravel()], axis=1), vectors),
                            trail=Scatter(trail), point=np.array([theta, psi]), start=start,
                            extent=extent, title=describe_settings(loss, s))

    def describe(self) -> str:
        settings_line = describe_settings(self.cfg.loss, self.settings).replace("\n", " ")
        return f"P_data = δ_0, P_G = δ_θ, D(x) = σ(ψx): {settings_line}"


LOSS_NAMES = {"minimax": "vanilla", "nonsaturating": "non-saturating", "wgan": "WGAN", "wgan-gp": "WGAN-GP"}


def describe_settings(loss: str, s: dict[str, Any]) -> str:
    reg = {"none": "no regulariser", "r1": f"R1 γ = {s['gamma']:g}", "r2": f"R2 γ = {s['gamma']:g}",
           "noise": f"instance noise σ = {s['noise_std']:g}"}[s["reg"]]
    return f"{LOSS_NAMES.get(loss, loss)}, {reg},\n{s['update']} updates"


def nice_extent(x: float) -> float:
    """The smallest of 2, 3, 4, 6, 8, 12, 16, … at least x (so the plane rescales rarely)."""
    extent = 2.0
    while extent < x and extent < 1e6:
        extent = extent * 1.5 if extent in (2.0,) or math.log2(extent).is_integer() else extent * 4 / 3
    return extent
