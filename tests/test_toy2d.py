"""The 2-D targets, the accuracy of the grid JSD, mode coverage, and the arrays the 2-D view draws."""

import math

import numpy as np
import pytest
import torch

from ganviz.core import divergence
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.toy2d import (COVERAGE_SAMPLES, EVAL_SAMPLES, GRID, SHOWN, ARROWS, TARGETS_2D, Toy2DTask,
                               cell_probabilities, mode_coverage)
from ganviz.core.trainer import Trainer

CPU = torch.device("cpu")
NOISE_FLOOR = 0.01  # nats; measured ≤ 0.0067 (grid25; ring8 0.0066) with EVAL_SAMPLES exact samples (Estimator2D)


def task(dataset="ring8", **kw):
    return Toy2DTask(TrainConfig.for_mode("2d", dataset=dataset, **kw), CPU)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- mode coverage (VEEGAN/PacGAN) --------------------------------------------------------------
RING = np.array([[math.cos(a), math.sin(a)] for a in 2 * np.pi * np.arange(8) / 8])


def test_every_mode_covered_when_samples_sit_on_every_centre():
    jitter = np.random.default_rng(0).uniform(-0.01, 0.01, size=(80, 2))  # within √2·0.01 < 3σ
    assert mode_coverage(np.repeat(RING, 10, axis=0) + jitter, RING, 0.01) == (8, 1.0)


def test_all_samples_on_one_mode_cover_one():
    samples = RING[3] + np.zeros((50, 2))
    assert mode_coverage(samples, RING, 0.01) == (1, 1.0)


def test_off_mode_samples_cover_nothing():
    samples = np.zeros((100, 2))  # the ring's centre: 1 away from every mode, ≫ 3σ
    assert mode_coverage(samples, RING, 0.01) == (0, 0.0)


def test_high_quality_is_within_three_sigma_of_the_nearest_centre():
    # 2.9σ and 3.1σ from mode 0, and one sample halfway between modes 0 and 1.
    samples = np.array([[1 + 0.029, 0.0], [1 + 0.031, 0.0], 0.5 * (RING[0] + RING[1])])
    covered, hq = mode_coverage(samples, RING, 0.01)
    assert covered == 1 and hq == pytest.approx(1 / 3)


def test_mixed_sets_and_nan():
    samples = np.concatenate([RING[:4], np.full((3, 2), 5.0), np.full((1, 2), np.nan)])
    assert mode_coverage(samples, RING, 0.05) == (4, 0.5)


# --- targets ------------------------------------------------------------------------------------
def test_literature_mixtures():
    ring = task("ring8")
    np.testing.assert_allclose(ring.target.centres, RING, atol=1e-12)
    assert ring.target.sigma == 0.01
    grid = task("grid25")
    assert grid.target.sigma == 0.05
    assert sorted(set(grid.target.centres[:, 0])) == [-4, -2, 0, 2, 4] and len(grid.target.centres) == 25
    assert task("grid25", spread=3.0).target.sigma == pytest.approx(0.15)


@pytest.mark.parametrize("dataset", list(TARGETS_2D))
def test_sampling_matches_the_exact_cell_probabilities(dataset):
    t = task(dataset)
    x0, x1, y0, y1 = t.region
    assert x1 - x0 == pytest.approx(y1 - y0)  # square
    coarse = 16  # coarse cells so the sampling error of 200k samples is small
    ex, ey = np.linspace(x0, x1, coarse + 1), np.linspace(y0, y1, coarse + 1)
    p = cell_probabilities(t.target.centres, t.target.sigma, ex, ey)
    assert p.sum() == pytest.approx(1.0, abs=1e-4)  # the region holds the target
    s = t.sample_real(200_000, gen()).numpy()
    hist, _, _ = np.histogram2d(s[:, 1], s[:, 0], bins=(ey, ex))
    assert 0.5 * np.abs(hist / len(s) - p).sum() < 0.01  # total variation


def test_ring8_samples_have_the_stated_sigma():
    s = task("ring8").sample_real(100_000, gen()).numpy()
    nearest = np.argmin(((s[:, None] - RING[None]) ** 2).sum(-1), axis=1)
    assert np.bincount(nearest, minlength=8).min() > 0.11 * len(s)  # each mode ≈ 1/8
    resid = s - RING[nearest]
    assert resid.std(axis=0) == pytest.approx([0.01, 0.01], rel=0.02)


def test_unknown_dataset_names_the_option():
    with pytest.raises(ConfigError) as err:
        task("nope")
    assert err.value.option == "--dataset"


def test_bad_points_file_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "few.csv"
    path.write_text("1,2\n3,4\n")
    with pytest.raises(ConfigError) as err:
        task(str(path))
    assert err.value.option == "--dataset" and "few.csv" in str(err.value)


def test_points_file_target(tmp_path):
    pts = np.random.default_rng(0).uniform(100, 110, size=(200, 2))  # far from the origin, in odd units
    path = tmp_path / "cloud.npy"
    np.save(path, pts)
    t = task(str(path))
    # P_data is a KDE with Scott's rule per axis in standardised space (h = n^(-1/6)), i.e. h_i =
    # std_i·n^(-1/6) in the data's units, stated in the panel text.
    assert t.target.sigma == pytest.approx(200 ** (-1 / 6))
    np.testing.assert_allclose(t.target.centres.std(axis=0), 1.0)
    np.testing.assert_allclose(t.target.centres.mean(axis=0), 0.0, atol=1e-12)
    h = 200 ** (-1 / 6) * pts.std(axis=0)
    assert "cloud.npy: 200 points" in t.describe() and f"KDE h = {h[0]:.3g}, {h[1]:.3g} (Scott)" in t.describe()
    assert "Scott's rule" in t.target.note and f"h(x1) = {h[0]:.3g}, h(x2) = {h[1]:.3g}" in t.target.note
    # A point set has no modes: metrics.csv leaves the columns out rather than empty.
    assert "modes" not in t.metric_names and "hq" not in t.metric_names
    assert "modes" not in t.evaluate(t.build_generator(), t.build_discriminator(), gen(), views=False).metrics
    # G and D work in normalised coordinates: an untrained G already lands in the data's region.
    x = t.build_generator()(t.sample_noise(1000, gen())).detach().numpy()
    x0, x1, y0, y1 = t.region
    assert np.mean((x[:, 0] > x0) & (x[:, 0] < x1) & (x[:, 1] > y0) & (x[:, 1] < y1)) > 0.9
    # ... and everything shown is in the data's units: the real samples lie around the data.
    pic = t.evaluate(t.build_generator(), t.build_discriminator(), gen()).picture
    real = pic.real.points
    assert (real.mean(axis=0) > 99).all() and (real.mean(axis=0) < 111).all()
    ex0, ex1, ey0, ey1 = pic.d.extent
    assert ex0 < pts[:, 0].min() and ex1 > pts[:, 0].max() and ey0 < pts[:, 1].min() and ey1 > pts[:, 1].max()


def test_drawn_target_needs_points():
    with pytest.raises(ConfigError):
        task("drawn")
    with pytest.raises(ConfigError):
        task("drawn", extra={"points": []})
    with pytest.raises(ConfigError):
        task("drawn", extra={"points": [[1, 2, 3]]})
    t = task("drawn", extra={"points": [[0, 0], [1, 1], [2, 0]]})
    assert len(t.target.centres) == 3 and t.describe().startswith("drawn: 3 points")


def test_degenerate_data_trains():
    """All points equal: σ falls back to 2% of a unit extent and training runs."""
    cfg = TrainConfig.for_mode("2d", dataset="drawn", extra={"points": [[3.0, -1.0]] * 20}, hidden=16, batch=64)
    tr = Trainer(cfg)
    assert tr.task.target.sigma == pytest.approx(0.02)
    tr.step(20)
    ev = tr.evaluate(views=True)
    assert all(math.isfinite(ev.metrics[k]) for k in ("v", "jsd", "jsd_d", "d_real", "d_fake"))
    assert np.isfinite(ev.picture.d.values).all()


# --- the JSD estimate ---------------------------------------------------------------------------
class ExactG(torch.nn.Module):
    """A 'generator' that returns exact samples of P_data (whatever z is)."""

    def __init__(self, t, offset=(0.0, 0.0)):
        super().__init__()
        self.t, self.offset = t, torch.tensor(offset)
        self.g = gen(123)

    def forward(self, z):
        return self.t.sample_real(len(z), self.g) + self.offset


@pytest.mark.parametrize("dataset", list(TARGETS_2D))
def test_noise_floor_with_exact_samples(dataset):
    """G replaced by exact samples of P_data: the reported JSD must read (near) zero."""
    t = task(dataset)
    for seed in range(3):
        assert t.jsd_of_samples(t.sample_real(EVAL_SAMPLES, gen(seed))) < NOISE_FLOOR
    m = t.evaluate(ExactG(t), t.build_discriminator(), gen(), views=False).metrics
    assert m["jsd"] < NOISE_FLOOR
    if t.target.modes is not None:
        assert m["modes"] == len(t.target.modes) and m["hq"] > 0.98


@pytest.mark.parametrize("dataset", list(TARGETS_2D))
def test_shifted_samples_read_clearly_higher(dataset):
    t = task(dataset)
    exact = t.jsd_of_samples(t.sample_real(EVAL_SAMPLES, gen()))
    shift = 3 * t.target.sigma
    shifted = t.jsd_of_samples(t.sample_real(EVAL_SAMPLES, gen()) + torch.tensor([shift, 0.0]))
    assert shifted > 0.05 and shifted > 5 * exact


def test_disjoint_supports_read_log_2():
    t = task("ring8")
    m = t.evaluate(ExactG(t, offset=(0.0, 0.5)), t.build_discriminator(), gen(), views=False).metrics
    assert m["jsd"] == pytest.approx(math.log(2), abs=1e-3)
    assert m["modes"] == 0 and m["hq"] == 0


def test_mass_outside_the_region_counts():
    """Half the samples far outside: JSD is at least that of a distribution missing half its mass."""
    t = task("gaussian")
    inside = t.sample_real(EVAL_SAMPLES // 2, gen())
    far = torch.full((EVAL_SAMPLES // 2, 2), 100.0)
    value = t.jsd_of_samples(torch.cat((inside, far)))
    p = np.array([1.0, 0.0])
    q = np.array([0.5, 0.5])
    assert value == pytest.approx(divergence.jsd(p, q, 1.0), abs=0.01)


# --- evaluate ---------------------------------------------------------------------------------
def test_views_and_metrics_are_consistent():
    tr = Trainer(TrainConfig.for_mode("2d", hidden=32))
    ev = tr.evaluate(views=True)
    pic, m = ev.picture, ev.metrics
    d = pic.d.values
    assert d.shape == (GRID, GRID) and d.dtype == np.float32 and d.flags.c_contiguous
    assert np.all((d > 0) & (d < 1))
    np.testing.assert_allclose(pic.d.extent, tr.task.region)
    assert pic.real.points.shape == pic.fake.points.shape == (SHOWN, 2)
    assert pic.arrows.vectors.shape == (ARROWS, 2)  # a readable subset of the generated points
    np.testing.assert_array_equal(pic.arrows.origins, pic.fake.points[:ARROWS])
    assert pic.manifold.lines.shape == (22, 64, 2)
    assert pic.centres.points.shape == (8, 2)
    assert set(m) >= set(tr.task.metric_names)
    assert 0 <= m["jsd"] <= math.log(2) and m["jsd_d"] <= m["jsd"] + 1e-12
    assert m["jsd_d"] == pytest.approx((m["v"] + math.log(4)) / 2)
    assert 0 <= m["modes"] <= 8 and 0 <= m["hq"] <= 1 and 0 < m["d_real"] < 1 and 0 < m["d_fake"] < 1
    assert Trainer(TrainConfig.for_mode("2d", dataset="moons", hidden=8)).evaluate().picture.centres is None


@pytest.mark.parametrize("noise_dim,noise,shape", [(1, "gaussian", (1, 512, 2)), (2, "uniform", (22, 64, 2)),
                                                    (7, "gaussian", (22, 64, 2))])
def test_manifold_is_g_of_a_noise_grid(noise_dim, noise, shape):
    t = task(noise_dim=noise_dim, noise=noise, hidden=8)
    G = t.build_generator()
    manifold = t.evaluate(G, t.build_discriminator(), gen()).picture.manifold.lines
    assert manifold.shape == shape
    z = t._z_manifold
    assert torch.all(z[:, 2:] == 0)  # only the first two noise coordinates vary
    np.testing.assert_allclose(manifold.reshape(-1, 2), G(z).detach().double().numpy(), rtol=1e-6)


class BowlD(torch.nn.Module):
    """logit D(x) = 1 − |x − c|²: D is highest at c."""

    def __init__(self, c):
        super().__init__()
        self.c = torch.tensor(c)

    def forward(self, x):
        return 1.0 - ((x - self.c) ** 2).sum(-1)


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating"])
def test_arrows_point_where_d_says_real(loss):
    t = task(loss=loss)
    x = torch.tensor([[1.0, 0.0], [0.0, -1.0], [-0.5, 0.5]])
    arrows = t.generator_gradient(BowlD((0.2, 0.3)), x)
    towards = np.array([0.2, 0.3]) - x.numpy()
    cos = (arrows * towards).sum(1) / np.linalg.norm(arrows, axis=1) / np.linalg.norm(towards, axis=1)
    assert np.all(cos > 0.999)
    assert torch.is_grad_enabled()


def test_training_changes_d_and_coverage_is_computed_on_2500_samples():
    assert COVERAGE_SAMPLES == 2500
    tr = Trainer(TrainConfig.for_mode("2d", hidden=32))
    before = tr.evaluate().picture.d.values
    tr.step(30)
    after = tr.evaluate().picture.d.values
    assert np.abs(after - before).max() > 1e-3
    assert tr.iteration == 30


def test_real_samples_shown_stay_fixed():
    tr = Trainer(TrainConfig.for_mode("2d", hidden=8))
    a = tr.evaluate().picture.real.points
    tr.step(2)
    np.testing.assert_array_equal(a, tr.evaluate().picture.real.points)


# --- targets float32 training cannot use (shared/qa/robustness-cases.md 17, 19, 20, minor) -----
@pytest.mark.parametrize("points", [[[1e300, 1e300]] * 50, [[1e39, 0.0], [0.0, 1e39]] * 25])
def test_coordinates_out_of_float32_range_are_refused_not_a_zero_division(points):
    # (4.6e18 + i, which float64 rounds to one point, is no longer refused: drawn points are
    # standardised, so coincident points anywhere are a degenerate target that trains)
    with pytest.raises(ConfigError, match="--dataset: drawn: the target reaches .* float32"):
        task("drawn", extra={"points": points})


@pytest.mark.parametrize("spread, what", [(1e40, "reaches"), (1e-300, "below"), (1e-6, "finer than float32")])
def test_spread_outside_what_float32_resolves_is_refused(spread, what):
    with pytest.raises(ConfigError) as err:
        task("ring8", spread=spread)
    assert err.value.option == "--spread" and what in str(err.value) and "ring8" in str(err.value)


@pytest.mark.parametrize("dataset", ["moons", "spiral"])
def test_curve_targets_with_an_underflowing_spread_are_refused(dataset):
    with pytest.raises(ConfigError, match="--spread"):
        task(dataset, spread=5e-324)  # σ = 0: no ZeroDivisionError or OverflowError building the curve


def test_points_far_off_centre_for_their_spread_are_standardised(tmp_path):
    """Case 20: 50 points at 1e9 ± 2.5 trained silently with JSD = log 2 (float32 steps of 64 there).
    Standardised, the target is a unit cloud: exact samples read near zero, the view is in data units."""
    path = tmp_path / "offset.npy"
    pts = 1e9 + np.random.default_rng(0).uniform(-2.5, 2.5, (50, 2))
    np.save(path, pts)
    t = task(str(path))
    assert t.jsd_of_samples(t.sample_real(EVAL_SAMPLES, gen(1))) < NOISE_FLOOR
    assert np.abs(t.target.centres).max() < 2.0
    real = t.evaluate(t.build_generator(), t.build_discriminator(), gen()).picture.real.points
    assert np.abs(real - 1e9).max() < 10 and real.std(axis=0).min() > 1.0  # not rounded to float32's 64


def test_a_column_without_spread_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("a,b\n" + "".join(f"{i},5\n" for i in range(20)))
    with pytest.raises(ConfigError) as err:
        task(str(path))
    msg = str(err.value)
    assert err.value.option == "--dataset" and "flat.csv" in msg and "column 2 (b) has no spread" in msg


@pytest.mark.parametrize("scale, offset", [(1e-6, 0.0), (1e-12, 0.0), (1e6, 0.0), (1.0, 1e4)])
def test_point_sets_at_usable_scales_train_and_measure(scale, offset):
    """Tiny, huge and offset clouds that float32 can resolve: the task builds, the exact samples
    read near zero JSD, and a training step gives finite metrics."""
    pts = offset + scale * np.random.default_rng(1).normal(size=(200, 2)) * (1.0, 3.0)
    cfg = TrainConfig.for_mode("2d", dataset="drawn", extra={"points": pts.tolist()}, hidden=16, batch=64)
    tr = Trainer(cfg)
    t = tr.task
    assert t.target.sigma * t.units.scale[0] == pytest.approx(0.02 * np.ptp(pts, axis=0).max())
    assert t.jsd_of_samples(t.sample_real(EVAL_SAMPLES, gen(1))) < NOISE_FLOOR
    tr.step(5)
    ev = tr.evaluate(views=True)
    assert all(math.isfinite(ev.metrics[k]) for k in ("v", "jsd", "jsd_d", "d_real", "d_fake"))


def test_many_kernels_are_pooled_and_keep_the_cell_masses():
    """Above EXACT_CENTRES kernels (a 10⁶-point file took a minute of the training thread) the cell
    masses come from kernels pooled in bins POOL_PITCH·σ wide: within 0.1% of the largest cell of the
    sum over every kernel, computed here directly, and with the same total mass."""
    from ganviz.core import toy2d

    rng = np.random.default_rng(0)
    z = rng.normal(size=(toy2d.EXACT_CENTRES + 5000, 2))
    sigma = len(z) ** (-1 / 6)
    edges = np.linspace(-4.0, 4.0, 33)
    pooled = cell_probabilities(z, sigma, edges, edges)
    centres, weights = toy2d.pooled_centres(z, sigma)
    assert weights.sum() == len(z) and len(centres) < len(z) / 4
    assert np.allclose((centres * weights[:, None]).sum(0), z.sum(0))  # every bin keeps its mean
    s = 1 / (sigma * math.sqrt(2))
    fx = np.diff(0.5 * np.vectorize(math.erf)((edges[None, :] - z[:, :1]) * s), axis=1)
    fy = np.diff(0.5 * np.vectorize(math.erf)((edges[None, :] - z[:, 1:]) * s), axis=1)
    exact = fy.T @ fx / len(z)  # every kernel, no pooling
    assert np.abs(pooled - exact).max() < 1e-3 * exact.max()
    assert pooled.sum() == pytest.approx(exact.sum(), abs=1e-9)
