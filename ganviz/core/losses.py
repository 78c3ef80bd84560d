"""The GAN objectives: Goodfellow et al.'s (2014) minimax and non-saturating losses, and the losses
that came after (THEORY.md §8): least squares, Wasserstein (clipped or with a gradient penalty), hinge.

D's output is a logit l(x) for the vanilla losses, D(x) = sigmoid(l), so log D = -softplus(-l) and
log(1 - D) = -softplus(l): working on logits keeps every term finite where D saturates. For LSGAN it
is D(x) itself (codes a = -1 fake, b = 1 real, c = 0 G's target), for WGAN and hinge a critic f(x).
Every function reduces over the last dimension, so (m,) outputs give a scalar and (L, m) outputs of
L batched lanes give one value per lane.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# Which discriminator each loss trains: switching within a family keeps D's meaning (live),
# switching between families changes what D is (a new run).
FAMILY = {"minimax": "vanilla", "nonsaturating": "vanilla", "lsgan": "lsgan", "wgan": "critic",
          "wgan-gp": "critic", "hinge": "hinge"}
# (what D estimates, the true quantity it estimates), as metrics.csv columns (THEORY.md §3, §8).
ESTIMATES = {"vanilla": ("jsd_d", "jsd"), "lsgan": ("chi2_d", "chi2"), "critic": ("w1_d", "w1"),
             "hinge": ("tv_d", "tv")}
WGAN_CLIP = 0.01        # weight clipping of the WGAN critic (Arjovsky et al. 2017)
GP_LAMBDA = 10.0        # weight of WGAN-GP's gradient penalty (Gulrajani et al. 2017)
# The penalty is one-sided, λ·E[max(0, ‖∇f(x̂)‖ − 1)²] (Gulrajani et al. discuss both forms). The
# two-sided λ·E[(‖∇f‖ − 1)²] traps a 1-D critic's sign: to turn from "real is left" to "real is
# right" f′ must pass through 0, which costs λ, more than the Wasserstein term gains. Measured on
# the 1-D gaussian target, seeds 0–2: two-sided, G overshoots the data and JSD swings back to
# 0.6–0.69 (one seed never comes near); one-sided, all three end below 0.003 nats.


def family(loss: str) -> str:
    return FAMILY[loss]


def log_d(logits: torch.Tensor) -> torch.Tensor:
    return -F.softplus(-logits)


def log_one_minus_d(logits: torch.Tensor) -> torch.Tensor:
    return -F.softplus(logits)


def value_fn(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """V(G, D) = E_data[log D(x)] + E_G[log(1 - D(x))], estimated on a batch."""
    return log_d(real_logits).mean(-1) + log_one_minus_d(fake_logits).mean(-1)


def d_loss(real: torch.Tensor, fake: torch.Tensor, loss: str = "nonsaturating") -> torch.Tensor:
    """What D (or the critic) descends, given its outputs on a real and a generated batch."""
    fam = FAMILY[loss]
    if fam == "vanilla":  # ascend V(G, D): binary cross-entropy with real = 1, fake = 0
        return -value_fn(real, fake)
    if fam == "lsgan":    # ½E_data[(D − 1)²] + ½E_G[(D + 1)²]
        return 0.5 * (real - 1).square().mean(-1) + 0.5 * (fake + 1).square().mean(-1)
    if fam == "critic":   # ascend E_data[f] − E_G[f]
        return fake.mean(-1) - real.mean(-1)
    return F.relu(1 - real).mean(-1) + F.relu(1 + fake).mean(-1)  # hinge


def g_loss(fake: torch.Tensor, loss: str) -> torch.Tensor:
    """minimax: descend E[log(1 - D(G(z)))]; nonsaturating: -E[log D(G(z))]; lsgan: ½E[D(G(z))²];
    wgan, wgan-gp, hinge: -E[f(G(z))]."""
    if loss == "minimax":
        return log_one_minus_d(fake).mean(-1)
    if loss == "nonsaturating":
        return -log_d(fake).mean(-1)
    if loss == "lsgan":
        return 0.5 * fake.square().mean(-1)
    if loss in ("wgan", "wgan-gp", "hinge"):
        return -fake.mean(-1)
    raise ValueError(f"unknown generator loss {loss!r}")


# G's loss on a probability D*(G(z)) from the oracle (ganviz.core.oracle) rather than on a logit: D* is clamped
# to [D_FLOOR, 1 − D_FLOOR], so where D* is 0 (P_G's mass where p_data has none) or 1 the loss is finite and flat.
D_FLOOR = 1e-12


def g_loss_of_probability(d: torch.Tensor, loss: str) -> torch.Tensor:
    """minimax: E[log(1 − D*(G(z)))]; nonsaturating: −E[log D*(G(z))], for probabilities `d` (reduced over the last dim)."""
    d = d.clamp(D_FLOOR, 1 - D_FLOOR)
    if loss == "minimax":
        return torch.log1p(-d).mean(-1)
    if loss == "nonsaturating":
        return -torch.log(d).mean(-1)
    raise ValueError(f"the exact D* takes the minimax or non-saturating loss, not {loss!r}")


def r1_penalty(D: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, gamma: float,
               sample_dims: int = 3) -> torch.Tensor:
    """R1 (Mescheder et al. 2018, THEORY §9): γ/2 · E‖∇ₓD(x)‖² over real samples, D's logit; zero where D
    is flat on the data, so D cannot sharpen its edge against G there. Differentiable in D's weights."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    return gamma / 2 * grad.square().flatten(start_dim=grad.dim() - sample_dims).sum(-1).mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor, sample_dims: int = 1) -> torch.Tensor:
    """λ·E[max(0, ‖∇f(x̂)‖ − 1)²] at x̂ = ε·real + (1 − ε)·fake; `sample_dims` trailing dims are one sample's
    coordinates (1 for points, 3 for images). Differentiable in the critic's weights."""
    x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norm = grad.flatten(start_dim=grad.dim() - sample_dims).norm(dim=-1)
    return GP_LAMBDA * F.relu(norm - 1).square().mean(-1)
