"""The formulas of THEORY.md against closed forms."""

import math

import numpy as np
import pytest
import torch

from ganviz.core import divergence, losses

X = np.linspace(-16, 16, 8001)
CELL = X[1] - X[0]


def normal(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def test_identical_densities_have_zero_divergence():
    p = normal(X, 0.3, 1.1)
    assert divergence.jsd(p, p, CELL) == pytest.approx(0.0, abs=1e-12)
    assert divergence.kl(p, p, CELL) == pytest.approx(0.0, abs=1e-12)


def test_disjoint_supports_give_log2():
    p = np.where(X < -1, 1.0, 0.0)
    q = np.where(X > 1, 1.0, 0.0)
    assert divergence.jsd(p, q, CELL) == pytest.approx(math.log(2), abs=1e-12)


def test_kl_of_gaussians_matches_closed_form():
    p, q = normal(X, 0.0, 1.0), normal(X, 1.0, 2.0)
    closed = math.log(2.0) + (1 + 1) / (2 * 4) - 0.5
    assert divergence.kl(p, q, CELL) == pytest.approx(closed, rel=1e-4)


def test_optimal_discriminator_attains_jsd_and_others_stay_below():
    """V(G, D*) = −log 4 + 2·JSD, and (V(G, D) + log 4)/2 ≤ JSD for any other D (THEORY §3)."""
    p, q = normal(X, -1.0, 0.7), normal(X, 1.5, 1.0)
    d_star = divergence.d_star(p, q)
    ok = np.isfinite(d_star) & (d_star > 0) & (d_star < 1)
    p, q, d_star = p[ok], q[ok], d_star[ok]
    jsd = divergence.jsd(p, q, CELL)
    v_star = divergence.value_on_grid(p, q, np.log(d_star), np.log1p(-d_star), CELL)
    assert divergence.jsd_lower_bound(v_star) == pytest.approx(jsd, rel=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = np.clip(d_star + rng.normal(0, 0.1, d_star.shape), 1e-6, 1 - 1e-6)
        v = divergence.value_on_grid(p, q, np.log(d), np.log1p(-d), CELL)
        assert divergence.jsd_lower_bound(v) < jsd
    half = np.full_like(p, 0.5)
    v_half = divergence.value_on_grid(p, q, np.log(half), np.log(half), CELL)
    assert v_half == pytest.approx(-math.log(4))


def test_d_star_is_half_where_densities_agree_and_undefined_where_both_vanish():
    p = normal(X, 0.0, 1.0)
    d = divergence.d_star(p, p)
    assert np.nanmax(np.abs(d - 0.5)) < 1e-12
    assert np.isnan(d[0]) and np.isnan(d[-1])


def test_losses_on_logits():
    real = torch.tensor([2.0, -1.0])
    fake = torch.tensor([0.5, -3.0])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    v = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
    assert losses.value_fn(real, fake).item() == pytest.approx(v.item(), rel=1e-6)
    assert losses.d_loss(real, fake).item() == pytest.approx(-v.item(), rel=1e-6)
    assert losses.g_loss(fake, "minimax").item() == pytest.approx(torch.log(1 - d_fake).mean().item(), rel=1e-6)
    assert losses.g_loss(fake, "nonsaturating").item() == pytest.approx(-torch.log(d_fake).mean().item(), rel=1e-6)


def test_minimax_loss_saturates_where_nonsaturating_does_not():
    """When D confidently rejects fakes, log(1 − D(G(z))) has a tiny gradient (THEORY §4)."""
    grads = {}
    for name in ("minimax", "nonsaturating"):
        logit = torch.tensor([-8.0], requires_grad=True)
        losses.g_loss(logit, name).backward()
        grads[name] = abs(logit.grad.item())
    assert grads["minimax"] < 1e-3 < 0.9 < grads["nonsaturating"]
