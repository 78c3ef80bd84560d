"""The 1-D targets and the accuracy of the density/divergence estimates."""

import math

import numpy as np
import pytest
import torch

from ganviz.core import divergence
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.toy1d import TARGETS_1D, Toy1DTask

CPU = torch.device("cpu")


def task(dataset="bimodal", **kw):
    return Toy1DTask(TrainConfig.for_mode("1d", dataset=dataset, **kw), CPU)


@pytest.mark.parametrize("dataset", list(TARGETS_1D))
def test_target_density_is_normalised_and_sampling_matches_it(dataset):
    t = task(dataset)
    assert t.p_data.sum() * t.cell == pytest.approx(1.0, abs=0.01)
    samples = t.sample_real(200_000, torch.Generator().manual_seed(0)).numpy()[:, 0]
    hist, edges = np.histogram(samples, bins=60, range=(-6, 6), density=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    expected = t.target.pdf(centres)
    assert np.max(np.abs(hist - expected)) < 0.03


@pytest.mark.parametrize("dataset", list(TARGETS_1D))
def test_noise_floor_with_exact_samples_is_below_001_nats(dataset):
    """G replaced by exact samples of P_data: the reported JSD must read (near) zero."""
    t = task(dataset)
    for seed in range(3):
        samples = t.sample_real(10_000, torch.Generator().manual_seed(seed))
        assert divergence.jsd(t.p_data, t.density_of_samples(samples), t.cell) < 0.01


class QuantileG(torch.nn.Module):
    """A 'generator' that is the exact quantile function of a normal target: G(z) = μ + σ z."""

    def __init__(self, mu, sigma):
        super().__init__()
        self.mu, self.sigma = mu, sigma

    def forward(self, z):
        return self.mu + self.sigma * z


def test_generator_density_is_exact_for_an_exact_generator():
    t = task("gaussian")
    p_g = t.density_of_generator(QuantileG(2.0, 0.5))
    assert divergence.jsd(t.p_data, p_g, t.cell) < 0.002
    shifted = t.density_of_generator(QuantileG(2.5, 0.5))
    assert divergence.jsd(t.p_data, shifted, t.cell) > 0.05


def test_unknown_dataset_names_the_option():
    with pytest.raises(ConfigError) as err:
        task("nope")
    assert err.value.option == "--dataset"


def test_evaluation_views_are_consistent():
    cfg = TrainConfig.for_mode("1d")
    t = Toy1DTask(cfg, CPU)
    from ganviz.core.trainer import Trainer

    tr = Trainer(cfg, t)
    ev = tr.evaluate(views=True)
    v = ev.views
    assert v["x"].shape == v["p_data"].shape == v["p_g"].shape == v["d"].shape == v["d_star"].shape
    assert np.all((v["d"] > 0) & (v["d"] < 1))
    assert v["p_g"].sum() * t.cell == pytest.approx(1.0, rel=1e-6)
    m = ev.metrics
    assert 0 <= m["jsd"] <= math.log(2) and m["jsd_d"] <= m["jsd"] + 1e-9
    assert m["jsd_d"] == pytest.approx((m["v"] + math.log(4)) / 2)
