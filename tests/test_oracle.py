"""G against the exact D* (THEORY.md §7): the oracle's D* is p_data/(p_data + p_G) of the current P_G,
its gradient vanishes where the supports are disjoint, it is a live per-lane setting that trains in the
batched step exactly as a lone trainer, and it is refused where there is no D* on a grid."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from ganviz.cli import main
from ganviz.core import losses
from ganviz.core.command_line import train_command
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.oracle import DStarGrid
from ganviz.core.session import Session
from ganviz.core.tasks import make_task
from ganviz.core.trainer import Trainer
from tests._helpers import assert_lanes_end_as_lone, batched_and_lone, max_diff, params, train_both


def normal_pdf(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


class Affine1D(nn.Module):
    """G(z) = a·z₀ + b: P_G = N(b, a²) for standard normal noise."""

    def __init__(self, a, b):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(float(a)))
        self.b = nn.Parameter(torch.tensor(float(b)))

    def forward(self, z):
        return self.a * z[:, :1] + self.b


def grad_norm(loss, module):
    grads = torch.autograd.grad(loss, list(module.parameters()), allow_unused=True)
    return math.sqrt(sum(float(g.square().sum()) for g in grads if g is not None))


def test_interpolation_is_linear_between_centres_and_flat_outside():
    # D* = x/10 at the centres of 10 cells over [0, 10]: centres 0.5 … 9.5
    centres = torch.arange(10) + 0.5
    table = DStarGrid((centres / 10).view(1, 1, 10), (0.0,), (10.0,), torch.tensor([0.25]))
    x = torch.tensor([[3.2], [7.0], [0.2], [9.9], [-1.0], [11.0]], requires_grad=True)
    d = table(x)
    assert torch.allclose(d, torch.tensor([0.32, 0.70, 0.05, 0.95, 0.25, 0.25]), atol=1e-6)
    (grad,) = torch.autograd.grad(d.sum(), x)
    # slope 1/10 between centres; flat beyond the outer centres and outside the grid
    assert torch.allclose(grad[:, 0], torch.tensor([0.1, 0.1, 0.0, 0.0, 0.0, 0.0]), atol=1e-6)


def test_bilinear_in_two_dimensions_and_batched_lanes():
    # 2 lanes on a 4×4 grid over [0, 4]²: lane 0 D* = x/4, lane 1 D* = y/4 (rows are y)
    c = torch.arange(4) + 0.5
    lane0 = (c / 4).expand(4, 4)
    lane1 = (c / 4).view(4, 1).expand(4, 4)
    table = DStarGrid(torch.stack((lane0, lane1)), (0.0, 0.0), (4.0, 4.0), torch.tensor([0.0, 1.0]))
    x = torch.tensor([[[1.5, 2.5], [9.0, 9.0]], [[1.5, 2.5], [9.0, 9.0]]])
    d = table(x)
    assert torch.allclose(d, torch.tensor([[1.5 / 4, 0.0], [2.5 / 4, 1.0]]), atol=1e-6)


def test_1d_d_star_is_the_density_ratio_on_a_known_case():
    """P_data = N(2, 0.5²) (gaussian), P_G = N(0, 1): the oracle's D* reads p_data/(p_data + p_G) within 0.02
    wherever either density has mass."""
    task = make_task(TrainConfig.for_mode("1d", dataset="gaussian", noise_dim=1), torch.device("cpu"))
    table = task.d_star_grid(Affine1D(1.0, 0.0))
    x = np.linspace(-2.0, 3.5, 111)
    p, q = normal_pdf(x, 2.0, 0.5), normal_pdf(x, 0.0, 1.0)
    got = table(torch.as_tensor(x, dtype=torch.float32).unsqueeze(1)).numpy()
    assert np.abs(got - p / (p + q)).max() < 0.02


def test_2d_d_star_is_the_density_ratio_on_a_known_case():
    """P_data = N((1, 1), 0.5² I), P_G = N((1.5, 1), 0.5² I), on the shared estimator's cells (P_data exact,
    P_G its adaptive KDE): along y = 1, D* = 1/(1 + exp(0.5·(x − 1.25)/σ²)) with σ² = 0.25."""
    task = make_task(TrainConfig.for_mode("2d", dataset="gaussian"), torch.device("cpu"))

    class Shifted(nn.Module):
        def forward(self, z):
            return 0.5 * z[:, :2] + torch.tensor([1.5, 1.0])

    table = task.d_star_grid(Shifted())
    xs = np.linspace(0.5, 2.0, 16)
    got = table(torch.as_tensor(np.column_stack((xs, np.ones_like(xs))), dtype=torch.float32)).numpy()
    want = 1.0 / (1.0 + np.exp(0.5 * (xs - 1.25) / 0.25))
    # a KDE of 10⁴ samples: a few % of noise per cell; the worst of these 16 cells measured 0.045–0.080 over
    # 3 noise draws (mean 0.014–0.028; with the kernels' old α = ½, which blurred G's tails more: 0.045–0.068)
    assert np.abs(got - want).max() < 0.09


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating"])
def test_oracle_gradient_vanishes_where_the_supports_are_disjoint(loss):
    """P_G's mass near −10 where N(2, 0.5²) has none: D* is 0 flat there and G's gradient is 0 (THEORY.md §7),
    while a network D, whose logit extrapolates, still gives the non-saturating loss a gradient."""
    task = make_task(TrainConfig.for_mode("1d", dataset="gaussian", noise_dim=1), torch.device("cpu"))
    G = Affine1D(0.3, -10.0)
    z = torch.randn(256, 1, generator=torch.Generator().manual_seed(0))
    table = task.d_star_grid(G)
    fake = G(z)
    assert float(table(fake).detach().max()) == 0.0  # D* is 0 where P_G is
    assert grad_norm(losses.g_loss_of_probability(table(fake), loss), G) < 1e-9
    # overlapping supports: the same oracle has a gradient
    near = Affine1D(0.3, 1.0)
    assert grad_norm(losses.g_loss_of_probability(task.d_star_grid(near)(near(z)), loss), near) > 1e-2
    if loss == "nonsaturating":
        torch.manual_seed(0)
        D = task.build_discriminator()
        assert grad_norm(losses.g_loss(D(G(z)), loss), G) > 1e-3


def test_g_against_d_star_stays_put_when_disjoint_and_d_keeps_training():
    cfg = TrainConfig.for_mode("1d", dataset="gaussian", d_oracle=True)
    trainer = Trainer(cfg)
    with torch.no_grad():
        trainer.G.net[-1].bias -= 4.0  # P_G near -4: 12σ from N(2, 0.5²), inside the plotted range
    g0, d0 = params(trainer.G), params(trainer.D)
    trainer.step(20)
    assert max_diff(g0, params(trainer.G)) == 0.0  # zero gradient: Adam does not move
    assert max_diff(d0, params(trainer.D)) > 1e-3  # D keeps training
    assert trainer.evaluate(views=False).metrics["jsd"] > math.log(2) - 1e-3


def test_g_against_d_star_descends_the_jsd():
    trainer = Trainer(TrainConfig.for_mode("1d", dataset="gaussian", d_oracle=True))
    before = trainer.evaluate(views=False).metrics["jsd"]
    trainer.step(150)
    after = trainer.evaluate(views=False).metrics["jsd"]
    assert after < 0.5 * before


@pytest.mark.parametrize("mode", ["1d", "2d"])
def test_batched_oracle_lanes_update_as_lone_trainers(mode):
    """Lanes against D* (their own), and one against the network D, in one batched step, end where lone
    trainers end; Step G goes through the oracle too. (2-D on `gaussian`: at the start P_G overlaps it, while
    ring8's σ = 0.01 modes lie where D* is 0 flat and the oracle's G would not move at all.)"""
    base = TrainConfig.for_mode(mode, dataset="gaussian" if mode == "2d" else None)
    cfgs = [base.replace(seed=0, d_oracle=True), base.replace(seed=1, loss="minimax", d_oracle=True),
            base.replace(seed=2)]
    session, lone = batched_and_lone(cfgs)
    train_both(session, lone, 3)
    assert_lanes_end_as_lone(session, lone, 1e-5)
    before = params(session.lanes[0].trainer.G)
    session.step_g()
    for t in lone:
        t.step_g()
    assert_lanes_end_as_lone(session, lone, 1e-5, networks=("G",))
    assert max_diff(before, params(session.lanes[0].trainer.G)) > 0
    assert "against the exact D*" in session.lanes[0].phase and "exact D*" not in session.lanes[2].phase
    assert "exact D*" in session.frame().lanes[0].label


def test_live_switch_keeps_the_run():
    session = Session(TrainConfig.for_mode("1d"))
    session.step(5)
    state = dict(session.lanes[0].trainer.opt_g.state)
    session.set(0, d_oracle=True)
    assert session.lanes[0].trainer.iteration == 5 and session.lanes[0].cfg.d_oracle
    assert session.lanes[0].trainer.opt_g.state.keys() == state.keys()
    session.step(2)
    assert session.lanes[0].trainer.iteration == 7


def test_refused_without_a_grid_or_with_another_loss():
    with pytest.raises(ConfigError, match="--d-oracle: applies only to --mode 1d or 2d"):
        TrainConfig.for_mode("mnist", d_oracle=True)
    with pytest.raises(ConfigError, match="--d-oracle: needs the minimax or non-saturating loss"):
        TrainConfig.for_mode("1d", loss="wgan-gp", d_oracle=True)
    session = Session(TrainConfig.for_mode("1d", d_oracle=True))
    with pytest.raises(ConfigError, match="--d-oracle"):
        session.set(0, loss="lsgan")
    assert session.lanes[0].cfg.loss == "nonsaturating"


def test_cli_flag_and_copy_command(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--mode", "1d", "--d-oracle", "--steps", "4", "--log-every", "2", "--out", str(out)]) == 0
    cfg = TrainConfig.load(out / "config.json")
    assert cfg.d_oracle
    assert "--d-oracle" in train_command(cfg)
    assert main(["train", "--mode", "mnist", "--d-oracle", "--steps", "1", "--out", str(tmp_path / "m")]) == 2
    assert "--d-oracle: applies only to --mode 1d or 2d" in capsys.readouterr().err
