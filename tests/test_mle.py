"""The maximum-likelihood baseline (THEORY.md §6): EM on known mixtures, its divergences, `ganviz mle`."""

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganviz.core import divergence, mle, toy2d
from ganviz.core.config import TrainConfig
from ganviz.core.mle import GaussianMixture, fit_gmm, mle_baseline
from ganviz.core.toy1d import Toy1DTask
from ganviz.mle_cli import add_mle_parser, mle_command

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[1]
KEYS = {"weights", "means", "covariances", "kl", "kl_rev", "jsd"}
# A fit with the right K differs from P_data only by its parameters' sampling error:
# E KL ≈ (number of parameters) / (2n) = 2.5e-4 nats for bimodal K = 2 (5 parameters) and
# 2.4e-3 for ring8 K = 8 (47) at n = 10,000. The bounds below are ~5x those, and below the
# GAN estimators' own noise floors (1-D 0.002 nats, toy1d.KDE_SAMPLES; 2-D 0.02, test_toy2d).
FLOOR_1D = 0.002
FLOOR_2D = 0.01


# --- EM on known mixtures ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_component_on_bimodal_sits_between_the_modes(seed):
    """Mean 0, variance 0.5² + 2² = 4.25. Sampling error at n = 10,000: sd(mean) = √(4.25/n) = 0.021,
    sd(variance) = √((μ₄ − σ⁴)/n) = √(4.125/n) = 0.020; the tolerances are ≥ 5 sd."""
    r = mle_baseline("1d", "bimodal", 1, seed=seed)
    assert r["weights"] == [1.0]
    assert abs(r["means"][0]) < 0.1
    assert abs(r["covariances"][0] - 4.25) < 0.15


def test_two_components_on_bimodal_find_both_modes_and_p_data_itself():
    r = mle_baseline("1d", "bimodal", 2)
    assert r["means"] == pytest.approx([-2.0, 2.0], abs=0.05)      # sd 0.007
    assert r["covariances"] == pytest.approx([0.25, 0.25], abs=0.02)  # sd 0.005
    assert r["weights"] == pytest.approx([0.5, 0.5], abs=0.03)      # sd 0.005
    assert 0 <= r["kl"] < FLOOR_1D and 0 <= r["kl_rev"] < FLOOR_1D   # measured 3.4e-4 both
    assert 0 <= r["jsd"] < FLOOR_1D / 4                              # measured 8.6e-5


def test_one_gaussian_covers_both_modes_and_puts_its_peak_where_p_data_has_none():
    """KL(P_data ‖ ·) is mode-covering: the MLE Gaussian has a moderate KL where a Gaussian on one mode
    (what the mode-seeking reverse KL prefers) has a huge one, and the reverse KL says the opposite.
    (JSD barely separates them: 0.201 for the MLE fit, 0.216 for the one-mode Gaussian.)"""
    task = Toy1DTask(TrainConfig.for_mode("1d", dataset="bimodal"), CPU)
    fit = mle.fit_task(task, 1, seed=0)
    assert float(fit.pdf(0.0)) > 0.15                 # N(0; 0, 4.25) = 0.194
    assert float(task.target.pdf(np.array([0.0]))[0]) < 1e-3  # p_data(0) = 2.7e-4
    ours = mle.divergences(task, fit)
    one_mode = GaussianMixture(np.array([1.0]), np.array([[2.0]]), np.array([[[0.25]]]))
    dropped = mle.divergences(task, one_mode)
    assert math.isfinite(ours["kl"]) and ours["kl"] < 1.0                # measured 0.72
    assert dropped["kl"] > 10 * ours["kl"]                               # measured 12.2
    assert dropped["kl_rev"] == pytest.approx(math.log(2), abs=0.01)    # the missing half: log 2
    assert ours["kl_rev"] > 2 * dropped["kl_rev"]                        # measured 2.04
    # and the fit is the single Gaussian of least KL(P_data ‖ ·): moving it away only costs.
    mu, var = float(fit.means[0, 0]), float(fit.variances[0])
    for dmu, fvar in ((0.3, 1.0), (-0.3, 1.0), (0.0, 1.2), (0.0, 1 / 1.2)):
        other = GaussianMixture(np.array([1.0]), np.array([[mu + dmu]]), np.array([[[var * fvar]]]))
        assert mle.divergences(task, other)["kl"] > ours["kl"]


def test_ring8_with_eight_components_covers_every_centre():
    r = mle_baseline("2d", "ring8", 8)
    centres = toy2d.ring8(1.0).centres
    means = np.array(r["means"])
    nearest = np.argmin(((means[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert sorted(nearest) == list(range(8))                          # one component per centre
    assert np.abs(means - centres[nearest]).max() < 0.01              # within σ (sd ~3e-4)
    assert r["weights"] == pytest.approx([1 / 8] * 8, abs=0.02)
    assert np.array(r["covariances"]) == pytest.approx(np.array([1e-4 * np.eye(2)] * 8), abs=2e-5)
    assert r["kl"] < FLOOR_2D and r["kl_rev"] < FLOOR_2D and r["jsd"] < FLOOR_2D / 4  # measured 2.1e-3, 5.1e-4
    # the VEEGAN/PacGAN convention (THEORY §5) applied to samples of the fit: all 8 modes covered
    rng = np.random.default_rng(0)
    k = rng.choice(8, size=toy2d.COVERAGE_SAMPLES, p=r["weights"])
    chol = np.linalg.cholesky(np.array(r["covariances"]))
    samples = means[k] + np.einsum("nde,ne->nd", chol[k], rng.standard_normal((len(k), 2)))
    covered, hq = toy2d.mode_coverage(samples, centres, 0.01)
    assert covered == 8 and hq > 0.95


@pytest.mark.parametrize("mode,dataset,components", [("1d", "bimodal", 4), ("1d", "heavytail", 5),
                                                     ("2d", "grid25", 10), ("2d", "moons", 10)])
def test_log_likelihood_never_decreases_over_em_iterations(mode, dataset, components):
    """tol < 0: EM runs all max_iter iterations. Slack 1e-9 for round-off and for reg_covar (adding εI
    makes the M-step a near-, not an exact, maximiser); measured worst −4e-11."""
    cfg = TrainConfig.for_mode(mode, dataset=dataset)
    task = Toy1DTask(cfg, CPU) if mode == "1d" else toy2d.Toy2DTask(cfg, CPU)
    x = task.sample_real(5000, torch.Generator().manual_seed(0)).double().numpy()
    fit = fit_gmm(x, components, seed=2, max_iter=120, tol=-1.0)
    ll = np.array(fit.log_likelihoods)
    assert len(ll) == 120 and not fit.converged
    assert np.diff(ll).min() >= -1e-9
    assert ll[-1] > ll[0]


def test_em_stops_at_tol_and_is_repeatable():
    x = np.random.default_rng(0).normal(size=(2000, 1))
    a = fit_gmm(x, 2, seed=3)
    b = fit_gmm(x, 2, seed=3)
    assert a.converged and len(a.log_likelihoods) < mle.MAX_ITER
    assert a.log_likelihoods[-1] - a.log_likelihoods[-2] < mle.TOL
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.covariances, b.covariances)


def test_restarts_keep_the_best_likelihood():
    x = Toy1DTask(TrainConfig.for_mode("1d", dataset="trimodal"), CPU).sample_real(
        3000, torch.Generator().manual_seed(0)).double().numpy()
    first = fit_gmm(x, 3, seed=0, restarts=1)  # the first of the four starts below
    best = fit_gmm(x, 3, seed=0, restarts=4)
    assert best.log_likelihoods[-1] >= first.log_likelihoods[-1]


def test_pdf_matches_the_closed_form_and_integrates_to_one():
    cov = np.array([[0.5, 0.3], [0.3, 0.4]])
    gm = GaussianMixture(np.array([0.3, 0.7]), np.array([[0.0, 0.0], [1.0, -1.0]]), np.array([cov, cov * 2]))
    pts = np.array([[0.2, -0.1], [1.5, -0.5]])

    def normal(x, m, c):
        d = x - m
        return math.exp(-0.5 * d @ np.linalg.solve(c, d)) / (2 * math.pi * math.sqrt(np.linalg.det(c)))

    expected = [0.3 * normal(p, gm.means[0], cov) + 0.7 * normal(p, gm.means[1], 2 * cov) for p in pts]
    assert gm.pdf(pts) == pytest.approx(expected, rel=1e-12)
    assert gm.log_pdf(pts) == pytest.approx(np.log(expected), rel=1e-12)
    g = np.linspace(-8, 8, 401)
    xx, yy = np.meshgrid(g, g)
    cell = (g[1] - g[0]) ** 2
    assert gm.pdf(np.stack((xx, yy), -1)).sum() * cell == pytest.approx(1.0, abs=1e-6)
    one = GaussianMixture(np.array([1.0]), np.array([[1.0]]), np.array([[[4.0]]]))
    assert one.variances.tolist() == [4.0]
    assert one.pdf(np.array([1.0, 3.0])) == pytest.approx([1 / math.sqrt(8 * math.pi),
                                                           math.exp(-0.5) / math.sqrt(8 * math.pi)])
    with pytest.raises(ValueError):
        gm.variances


def test_cell_probabilities_are_exact_for_diagonal_and_close_for_correlated_covariances():
    edges = np.linspace(-1.5, 1.5, toy2d.GRID + 1)
    centres, sigma = toy2d.ring8(1.0).centres, 0.01
    iso = GaussianMixture(np.full(8, 1 / 8), centres, np.array([sigma**2 * np.eye(2)] * 8))
    exact = toy2d.cell_probabilities(centres, sigma, edges, edges)
    assert np.abs(mle.cell_probabilities(iso, edges, edges) - exact).max() < 1e-15
    corr = GaussianMixture(np.array([1.0]), np.array([[0.3, 0.2]]), np.array([[[1e-4, 0.9e-4], [0.9e-4, 1e-4]]]))
    coarse = mle.cell_probabilities(corr, edges, edges)
    fine = mle.cell_probabilities(corr, edges, edges, subrows=512)
    assert coarse.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.abs(coarse - fine).max() < 1e-3 * fine.max()  # measured 2e-4 at ρ = 0.9, σ = 0.01
    assert divergence.kl(fine.ravel(), coarse.ravel(), 1.0) < 1e-5


def test_the_em_needs_numpy_only():
    code = "import sys, ganviz.core.mle; assert 'torch' not in sys.modules and 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- ganviz mle ---------------------------------------------------------------------------------------
class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def run_mle(argv, capsys):
    parser = OneLineParser(prog="ganviz")
    add_mle_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["mle", *argv])
    code = mle_command(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_mle_prints_one_json_line_with_exactly_the_documented_keys(capsys):
    code, out, err = run_mle(["--dataset", "bimodal", "--components", "2", "--seed", "1"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 1
    r = json.loads(lines[0])
    assert set(r) == KEYS
    assert r == mle_baseline("1d", "bimodal", 2, seed=1)
    assert all(isinstance(v, float) for v in r["means"] + r["covariances"] + r["weights"])  # 1-D: flat lists
    assert all(isinstance(r[k], float) and r[k] >= 0 for k in ("kl", "kl_rev", "jsd"))


def test_mle_2d_defaults_to_the_modes_dataset(capsys):
    code, out, _ = run_mle(["--mode", "2d", "--components", "8", "--samples", "4000"], capsys)
    assert code == 0
    r = json.loads(out)
    assert set(r) == KEYS
    assert np.array(r["means"]).shape == (8, 2) and np.array(r["covariances"]).shape == (8, 2, 2)
    assert r == mle_baseline("2d", "ring8", 8, samples=4000)


@pytest.mark.parametrize("argv,message", [
    (["--components", "0"], "ganviz mle: error: --components: must be between 1 and 10 (got 0)"),
    (["--components", "11"], "ganviz mle: error: --components: must be between 1 and 10 (got 11)"),
    (["--components", "2", "--dataset", "nope"], "ganviz mle: error: --dataset: unknown 1-D dataset 'nope'"),
    (["--mode", "2d", "--components", "2", "--dataset", "bimodal"],
     "ganviz mle: error: --dataset: unknown 2-D dataset 'bimodal'"),
    (["--mode", "3d", "--components", "2"], "ganviz mle: error: --mode: unknown mode '3d'"),
    (["--mode", "mnist", "--components", "2"], "ganviz mle: error: --mode: unknown mode 'mnist'"),
    (["--components", "3", "--samples", "2"], "ganviz mle: error: --samples: must be between 3 and"),
    (["--components", "1", "--seed", "-1"], "ganviz mle: error: --seed: must be between 0 and"),
])
def test_mle_bad_settings_exit_2_with_one_line(argv, message, capsys):
    code, out, err = run_mle(argv, capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(message)
    assert "Traceback" not in err
