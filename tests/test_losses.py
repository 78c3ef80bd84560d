"""The losses after the paper (THEORY.md §8): each D objective, the quantity it estimates against its
closed form, k_G, loss presets, and batched lanes with these losses equal to lone trainers."""

import math

import numpy as np
import pytest
import torch

from ganviz.core import divergence, losses
from ganviz.core.config import LOSSES, TrainConfig
from ganviz.core.session import Session
from ganviz.core.toy1d import GRID_POINTS, X_RANGE
from ganviz.core.trainer import Trainer
from tests._helpers import assert_lanes_end_as_lone, batched_and_lone, train_both

CELL = (X_RANGE[1] - X_RANGE[0]) / GRID_POINTS
X = X_RANGE[0] + CELL * (np.arange(GRID_POINTS) + 0.5)


def normal(mu, sigma):
    return np.exp(-0.5 * ((X - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def test_w1_of_shifted_gaussians_is_the_shift():
    assert divergence.w1_1d(normal(0, 0.5), normal(1.3, 0.5), CELL) == pytest.approx(1.3, rel=1e-3)
    # W1 between N(0, 0.5²) and N(0, 1): E|X|·(1 − 0.5) = 0.5·√(2/π) (the quantile map is monotone)
    assert divergence.w1_1d(normal(0, 0.5), normal(0, 1), CELL) == pytest.approx(0.5 * math.sqrt(2 / math.pi), rel=2e-3)


def test_tv_of_shifted_gaussians():
    # TV(N(0, σ²), N(δ, σ²)) = 2Φ(δ/2σ) − 1
    d, s = 1.0, 0.5
    expected = math.erf(d / (2 * s) / math.sqrt(2))
    assert divergence.tv(normal(0, s), normal(d, s), CELL) == pytest.approx(expected, rel=1e-3)


def test_chi2_closed_forms():
    p = normal(0, 0.5)
    assert divergence.chi2(p, p, CELL) == pytest.approx(0.0, abs=1e-12)
    assert divergence.chi2(normal(-3, 0.3), normal(3, 0.3), CELL) == pytest.approx(2.0, rel=1e-6)  # disjoint
    # half-overlap mixture: p = N(a), q = ½N(a) + ½N(b) with a, b disjoint: ∫(p−q)²/(p+q) = 2·(¼·½/(3/2)... )
    a, b = normal(-3, 0.3), normal(3, 0.3)
    q = 0.5 * a + 0.5 * b
    # on a's support: (½a)²/(3/2 a) = a/6; on b's: (½b)²/(½b) = b/2  →  1/6 + 1/2
    assert divergence.chi2(a, q, CELL) == pytest.approx(1 / 6 + 1 / 2, rel=1e-6)


def test_estimates_meet_the_truth_at_the_optimal_d():
    p, q = normal(-1, 0.6), normal(0.8, 0.9)
    d_ls = divergence.lsgan_d_star(p, q, rel_floor=0.0)
    assert divergence.lsgan_estimate(p, q, d_ls, CELL) == pytest.approx(divergence.chi2(p, q, CELL), rel=1e-9)
    f_hinge = np.sign(p - q)
    assert divergence.hinge_estimate(p, q, f_hinge, CELL) == pytest.approx(divergence.tv(p, q, CELL), rel=1e-9)
    # Kantorovich–Rubinstein: for shifted equal shapes f(x) = −x is optimal (P_G is to the right)
    p2, q2 = normal(0, 0.5), normal(1.0, 0.5)
    assert divergence.critic_estimate(p2, q2, -X, CELL) == pytest.approx(divergence.w1_1d(p2, q2, CELL), rel=1e-3)
    # any other D gives less (a bound)
    assert divergence.hinge_estimate(p, q, 0.5 * f_hinge, CELL) < divergence.tv(p, q, CELL)


def test_sliced_w1_of_a_shift_in_the_plane():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 2))
    b = a + np.array([1.0, 0.0])
    from ganviz.core.toy2d import SLICES
    # the mean of |cos θ| over [0, π) is 2/π: sliced W1 of a unit shift
    assert divergence.sliced_w1(a, b, SLICES) == pytest.approx(2 / math.pi, rel=0.02)


def test_gradient_penalty_is_zero_for_a_unit_slope_critic():
    critic = lambda x: x.sum(-1) / math.sqrt(2)  # noqa: E731  ‖∇f‖ = 1 everywhere
    real, fake = torch.randn(64, 2), torch.randn(64, 2)
    eps = torch.rand(64, 1)
    assert float(losses.gradient_penalty(critic, real, fake, eps)) == pytest.approx(0.0, abs=1e-10)
    steep = lambda x: 3 * x[..., 0]  # noqa: E731  ‖∇f‖ = 3: penalty λ·(3 − 1)²
    assert float(losses.gradient_penalty(steep, real, fake, eps)) == pytest.approx(40.0)
    gentle = lambda x: 0.5 * x[..., 0]  # noqa: E731  one-sided: a slope below 1 is not penalised
    assert float(losses.gradient_penalty(gentle, real, fake, eps)) == 0.0


def test_wgan_gp_critic_turns_towards_the_data():
    """The critic starts with the wrong slope sign on seed 2; the one-sided penalty lets it turn."""
    t = Trainer(TrainConfig.for_mode("1d", dataset="gaussian", seed=2, loss="wgan-gp"))
    t.set_fit(True)  # G frozen at ~0.1, the data at 2
    t.step(100)
    with torch.no_grad():
        f_fake, f_real = t.D(torch.tensor([[0.1], [2.0]])).tolist()
    assert f_real > f_fake


def test_presets_apply_unless_given():
    cfg = TrainConfig.for_mode("1d", loss="wgan-gp")
    assert (cfg.k, cfg.beta1, cfg.beta2, cfg.lr_d) == (5, 0.0, 0.9, 1e-4)
    cfg = TrainConfig.for_mode("1d", loss="wgan-gp", k=2, lr_d=3e-4)
    assert (cfg.k, cfg.lr_d) == (2, 3e-4)
    assert TrainConfig.for_mode("1d").with_loss("wgan", k=3).k == 3


def test_k_g_counts_generator_updates():
    t = Trainer(TrainConfig.for_mode("1d", k=2, k_g=3, hidden=8))
    t.step(4)
    assert (t.d_updates, t.g_updates) == (8, 12)


def test_wgan_clips_the_critic():
    t = Trainer(TrainConfig.for_mode("1d", loss="wgan", hidden=8))
    t.step(3)
    assert max(float(p.detach().abs().max()) for p in t.D.parameters()) <= losses.WGAN_CLIP + 1e-9


@pytest.mark.parametrize("loss", [loss for loss in LOSSES])
def test_batched_lanes_equal_lone_trainers_for_each_loss(loss):
    base = TrainConfig.for_mode("1d", hidden=16).with_loss(loss)
    cfgs = [base.replace(seed=0), base.replace(seed=1, k=2, k_g=2)]
    session, lone = batched_and_lone(cfgs)
    train_both(session, lone, 3)
    # (clipping at ±c turns float rounding into a visible difference where a weight sits at c)
    assert_lanes_end_as_lone(session, lone, 1e-4 if loss == "wgan" else 1e-5)


def test_switching_loss_family_is_a_new_run_with_the_loss_settings():
    session = Session(TrainConfig.for_mode("1d"))
    session.step(5)
    lane = session.lanes[0]
    session.set(lane.id, loss="minimax")  # same D: live
    assert session.lanes[0].trainer.iteration == 5
    session.set(lane.id, loss="wgan-gp")  # a critic: new run with WGAN-GP's settings
    new = session.lanes[0]
    assert new.trainer.iteration == 0 and (new.cfg.k, new.cfg.beta1) == (5, 0.0)
    assert "w1_d" in new.log.columns and "jsd_d" not in new.log.columns
    assert "new run" in session.message


@pytest.mark.parametrize("mode", ["1d", "2d"])
@pytest.mark.parametrize("loss", ["lsgan", "wgan", "hinge"])
def test_each_loss_reports_its_estimate_beside_the_truth(mode, loss):
    t = Trainer(TrainConfig.for_mode(mode, hidden=16).with_loss(loss))
    t.step(5)
    ev = t.evaluate(views=True)
    estimate, truth = losses.ESTIMATES[losses.family(loss)]
    assert math.isfinite(ev.metrics[estimate]) and math.isfinite(ev.metrics[truth])
    assert "v" not in ev.metrics and "jsd" in ev.metrics
    assert ev.picture.d_range[0] < 0  # D is not a probability under these losses
