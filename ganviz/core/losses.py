"""The GAN objectives of Goodfellow et al. (2014), written on discriminator logits.

D(x) = sigmoid(logit), so log D = -softplus(-logit) and log(1 - D) = -softplus(logit);
working on logits keeps every term finite where D saturates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def log_d(logits: torch.Tensor) -> torch.Tensor:
    return -F.softplus(-logits)


def log_one_minus_d(logits: torch.Tensor) -> torch.Tensor:
    return -F.softplus(logits)


def value_fn(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """V(G, D) = E_data[log D(x)] + E_G[log(1 - D(x))], estimated on a batch."""
    return log_d(real_logits).mean() + log_one_minus_d(fake_logits).mean()


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator descends -V (binary cross-entropy with real = 1, fake = 0)."""
    return -value_fn(real_logits, fake_logits)


def g_loss(fake_logits: torch.Tensor, loss: str) -> torch.Tensor:
    """minimax: descend E[log(1 - D(G(z)))]; nonsaturating: descend -E[log D(G(z))]."""
    if loss == "minimax":
        return log_one_minus_d(fake_logits).mean()
    if loss == "nonsaturating":
        return -log_d(fake_logits).mean()
    raise ValueError(f"unknown generator loss {loss!r}")
