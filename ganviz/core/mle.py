"""The maximum-likelihood baseline (THEORY.md §6): a Gaussian mixture fitted by EM to samples of P_data.

Maximising Σ log P_G(xⁱ; θ) over samples of P_data is minimising KL(P_data ‖ P_G), so the fit
covers every mode: one Gaussian on the bimodal target sits between the modes (mean 0, variance
0.5² + 2² = 4.25). `mle_baseline` samples P_data with the task's own sampler, fits the mixture and
measures KL(P_data ‖ P_MLE), KL(P_MLE ‖ P_data) and JSD on the grid the task measures the GAN on,
so the numbers compare with the GAN's.

EM is written here in numpy rather than taken from scikit-learn's GaussianMixture: that would add a
heavy dependency (scikit-learn and SciPy) for about sixty lines of EM. As in scikit-learn, each
component starts from a k-means++ centre of the seeded RNG, and reg_covar = 1e-6 is added to the
diagonal of every covariance so that no component collapses onto a point. The EM itself needs numpy
only; torch and the tasks are imported where P_data is sampled and measured.

Grids. 1-D: p_MLE is the mixture's density at the midpoints of the quadrature cells of the
estimator the GAN is measured with (ganviz.core.estimator: 4096 cells over [−24, 24], exact p_data
there; the cell, 0.0117, is far below any fitted σ). 2-D: the mixture's probability of each cell of the task's GRID × GRID grid,
blurred like the task's p_data, plus the mass outside the region as one more cell, as Toy2DTask
does for p_G. A cell's probability is exact for diagonal covariances (erf in x times erf in y);
for correlated components each cell is split into SUBROWS rows, each carrying its exact mass in y
and the exact x-mass of the conditional Gaussian at the row's centre (relative error ~(h/σ)²/24
for rows h high: below 10⁻³ for ring8's σ = 0.01). Pdf at cell centres × area would not do: ring8's
σ is under half a cell.

The window's layer (`Baseline`, driven by Session.set_mle): EM in one owned background thread,
once per (target, K, seed), cached; the Frame carries the result. The fit's divergences there are
taken as the GAN's are (`evaluate_fit`: 2-D through the task's own evaluate), so they compare.

Noise floor: a fit with the right number of components differs from P_data only by the sampling
error of its parameters, E KL ≈ (number of parameters)/(2n): 2.5·10⁻⁴ nats for bimodal K = 2 and
2.4·10⁻³ for ring8 K = 8 at n = 10,000 (tests/test_mle.py).
"""

from __future__ import annotations

import functools
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ganviz.core import divergence
from ganviz.core.config import ConfigError, TrainConfig

MLE_MODES = ("1d", "2d")     # the modes with a density on a grid (mnist has none)
COMPONENTS_MIN, COMPONENTS_MAX = 1, 10
SAMPLES = 10_000             # samples of P_data per fit: KL noise floor ~ parameters / 20,000 nats
MAX_SAMPLES = 1_000_000      # EM holds (n, K) arrays: 80 MB at the limit
REG_COVAR = 1e-6             # added to every covariance's diagonal (scikit-learn's default)
MAX_ITER = 500
TOL = 1e-6                   # stop when the mean log-likelihood per sample gains less than this
RESTARTS = 4                 # k-means++ starts per baseline fit; the best log-likelihood is kept
SUBROWS = 16                 # rows per grid cell for correlated 2-D components


@dataclass(frozen=True)
class GaussianMixture:
    """P_MLE(x) = Σ_k weights_k N(x; means_k, covariances_k), components ordered by their means
    (first coordinate, then the next). `log_likelihoods` is the mean log-likelihood per sample
    after each EM iteration of the fit (the last is this mixture's)."""

    weights: np.ndarray      # (K,)
    means: np.ndarray        # (K, d)
    covariances: np.ndarray  # (K, d, d), full
    log_likelihoods: tuple[float, ...] = field(default=(), compare=False)
    converged: bool = field(default=True, compare=False)

    @property
    def components(self) -> int:
        return len(self.weights)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def variances(self) -> np.ndarray:
        """(K,) variances of a 1-D mixture."""
        if self.dim != 1:
            raise ValueError("variances is for 1-D mixtures; use covariances")
        return self.covariances[:, 0, 0].copy()

    def _points(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.dim == 1 and (x.ndim == 0 or x.shape[-1] != 1):
            x = x[..., None]
        if x.shape[-1] != self.dim:
            raise ValueError(f"points of dimension {x.shape[-1]} for a {self.dim}-D mixture")
        return x

    def log_pdf(self, x) -> np.ndarray:
        """log P_MLE at points x of shape (..., d) (1-D: any shape, every element a point); shape (...)."""
        x = self._points(x)
        flat = x.reshape(-1, self.dim)
        out = _logsumexp(_log_joint(flat, self.weights, self.means, _precision_cholesky(self.covariances)))
        return out.reshape(x.shape[:-1])

    def pdf(self, x) -> np.ndarray:
        return np.exp(self.log_pdf(x))


class Cancelled(Exception):
    """A fit stopped by its `stop` event (the window asked for another one)."""


def fit_gmm(samples: np.ndarray, components: int, seed: int, max_iter: int = MAX_ITER, tol: float = TOL,
            reg_covar: float = REG_COVAR, restarts: int = 1, stop: threading.Event | None = None) -> GaussianMixture:
    """The maximum-likelihood Gaussian mixture of `components` full-covariance Gaussians, by EM.

    samples: (n, d), or (n,) for 1-D. Each of `restarts` runs starts from k-means++ centres drawn
    from np.random.default_rng(seed) (responsibilities: the nearest centre) and iterates until the
    mean log-likelihood per sample gains less than `tol` or after `max_iter` iterations; the run with
    the highest log-likelihood is returned. Every EM iteration can only raise the likelihood. A set
    `stop` event ends the fit between two EM iterations by raising Cancelled."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError("samples must be a finite (n, d) array")
    if not 1 <= components <= len(x):
        raise ValueError(f"cannot fit {components} components to {len(x)} samples")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(max(1, restarts)):
        fit = _em(x, _kmeans_pp_responsibilities(x, components, rng), max_iter, tol, reg_covar, stop)
        if best is None or fit.log_likelihoods[-1] > best.log_likelihoods[-1]:
            best = fit
    return best


def _em(x, resp, max_iter, tol, reg_covar, stop=None) -> GaussianMixture:
    history: list[float] = []
    converged = False
    for _ in range(max(1, max_iter)):
        if stop is not None and stop.is_set():
            raise Cancelled("the fit was cancelled")
        weights, means, covariances = _m_step(x, resp, reg_covar)
        log_joint = _log_joint(x, weights, means, _precision_cholesky(covariances))
        log_p = _logsumexp(log_joint)
        resp = np.exp(log_joint - log_p[:, None])  # E-step
        history.append(float(log_p.mean()))
        if len(history) > 1 and history[-1] - history[-2] < tol:
            converged = True
            break
    order = np.lexsort(means.T[::-1])  # by the first coordinate, then the next
    return GaussianMixture(weights[order], means[order], covariances[order], tuple(history), converged)


def _kmeans_pp_responsibilities(x, k, rng) -> np.ndarray:
    """k-means++ (Arthur & Vassilvitskii 2007): the first centre uniformly among the samples, each
    next one with probability ∝ squared distance to the nearest centre so far; every sample then
    belongs to its nearest centre (one-hot responsibilities, as scikit-learn starts EM)."""
    n = len(x)
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for i in range(1, k):
        total = d2.sum()
        centres[i] = x[rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)]
        d2 = np.minimum(d2, ((x - centres[i]) ** 2).sum(1))
    nearest = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    resp = np.zeros((n, k))
    resp[np.arange(n), nearest] = 1.0
    return resp


def _m_step(x, resp, reg_covar):
    nk = resp.sum(0) + 10 * np.finfo(np.float64).eps  # an empty component keeps finite parameters
    means = resp.T @ x / nk[:, None]
    covariances = np.empty((len(nk), x.shape[1], x.shape[1]))
    for k, mean in enumerate(means):
        diff = x - mean
        covariances[k] = (resp[:, k, None] * diff).T @ diff / nk[k]
    covariances += reg_covar * np.eye(x.shape[1])
    return nk / nk.sum(), means, covariances


def _precision_cholesky(covariances) -> np.ndarray:
    """(K, d, d) upper-triangular P with Σ⁻¹ = P Pᵀ, so (x − μ) P has the identity covariance."""
    try:
        chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ValueError("a covariance is not positive definite; fit fewer components") from None
    eye = np.broadcast_to(np.eye(covariances.shape[-1]), covariances.shape)
    return np.swapaxes(np.linalg.solve(chol, eye), -1, -2)


def _log_joint(x, weights, means, prec_chol) -> np.ndarray:
    """(n, K): log w_k + log N(x_n; μ_k, Σ_k)."""
    d = x.shape[1]
    sq = np.empty((len(x), len(weights)))
    for k, (mean, p) in enumerate(zip(means, prec_chol)):
        y = (x - mean) @ p
        sq[:, k] = (y * y).sum(1)
    log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(1)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return log_w + log_det - 0.5 * (d * math.log(2 * math.pi) + sq)


def _logsumexp(a) -> np.ndarray:
    m = a.max(axis=1)
    return m + np.log(np.exp(a - m[:, None]).sum(1))


# --- P_MLE against P_data on the task's grid -------------------------------------------------------
def cell_probabilities(mixture: GaussianMixture, edges_x: np.ndarray, edges_y: np.ndarray,
                       subrows: int = SUBROWS) -> np.ndarray:
    """P_MLE(cell) on the grid with these edges, rows y and columns x like toy2d.cell_probabilities.
    Exact for diagonal covariances; for correlated components each row of cells is split into
    `subrows` rows, each with its exact mass in y and the exact x-mass of N(x | y) at its centre."""
    import torch

    if mixture.dim != 2:
        raise ValueError("cell probabilities are for 2-D mixtures")
    ex = np.asarray(edges_x, dtype=np.float64)
    ey = np.asarray(edges_y, dtype=np.float64)
    t = np.arange(subrows + 1) / subrows
    fine = (ey[:-1, None] + np.diff(ey)[:, None] * t[None, :])[:, :subrows].ravel()
    fine = np.append(fine, ey[-1])
    centres = 0.5 * (fine[1:] + fine[:-1])

    def cdf(z: np.ndarray) -> np.ndarray:
        return (0.5 * (1.0 + torch.erf(torch.as_tensor(z) / math.sqrt(2.0)))).numpy()

    out = np.zeros((len(ey) - 1, len(ex) - 1))
    for w, mu, cov in zip(mixture.weights, mixture.means, mixture.covariances):
        sxx, sxy, syy = cov[0, 0], cov[0, 1], cov[1, 1]
        mass_y = np.diff(cdf((fine - mu[1]) / math.sqrt(syy)))                     # (H·S,)
        mean_x = mu[0] + sxy / syy * (centres - mu[1])                              # E[x | y]
        sd_x = math.sqrt(sxx - sxy * sxy / syy)  # > 0: the covariance is positive definite
        mass_x = np.diff(cdf((ex[None, :] - mean_x[:, None]) / sd_x), axis=1)       # (H·S, W)
        out += w * (mass_y[:, None] * mass_x).reshape(len(ey) - 1, subrows, -1).sum(1)
    return out


def p_mle_on_grid(task, mixture: GaussianMixture) -> np.ndarray:
    """P_MLE laid out like the task's p_data: 1-D the density at task.x; 2-D the (GRID, GRID) cell
    probabilities (rows y), blurred like p_data; the mass outside the region is 1 − their sum."""
    if task.mode == "1d":
        return mixture.pdf(task.x)
    if task.mode == "2d":
        import torch

        from ganviz.core.toy2d import blur, blur_matrix

        cells = cell_probabilities(mixture, task.edges_x, task.edges_y)
        return blur(torch.from_numpy(cells), blur_matrix(len(cells), task.blur_cells)).numpy()
    raise ConfigError("--mode", f"the MLE baseline needs a density on a grid: {', '.join(MLE_MODES)}")


def divergences(task, mixture: GaussianMixture) -> dict[str, float]:
    """kl = KL(P_data ‖ P_MLE), kl_rev = KL(P_MLE ‖ P_data) and jsd, in nats. 1-D: on the quadrature
    cells of the estimator the GAN is measured with (ganviz.core.estimator: exact p_data there, and
    P_MLE's exact density where the GAN's is a KDE), so the two compare; 2-D: the task's cells plus
    the outside cell, P_MLE's exact cell probabilities where the GAN's are a histogram."""
    if task.mode == "1d":
        est = task.estimator
        q = mixture.pdf(0.5 * (est.edges[1:] + est.edges[:-1]))
        # densities below 1e-300 are 0: a subnormal p halves to 0 in M = (P + Q)/2, and log(p/0) is inf
        p_data, p_mle, cell = np.where(est.p < 1e-300, 0.0, est.p), np.where(q < 1e-300, 0.0, q), est.cell
    else:
        p_mle = p_mle_on_grid(task, mixture)
        p_data = np.append(task.p_data.ravel(), task.p_data_out)
        p_mle = np.append(p_mle.ravel(), max(0.0, 1.0 - float(p_mle.sum())))
        cell = 1.0
    return {
        "kl": divergence.kl(p_data, p_mle, cell),
        "kl_rev": divergence.kl(p_mle, p_data, cell),
        "jsd": divergence.jsd(p_data, p_mle, cell),
    }


def fit_task(task, components: int, seed: int = 0, samples: int = SAMPLES,
             restarts: int = RESTARTS) -> GaussianMixture:
    """The MLE fit to `samples` draws of the task's P_data (its own sampler, torch.Generator seeded
    by `seed`, so exactly the app's P_data); the k-means++ starts use the same seed."""
    import torch

    gen = torch.Generator(device=task.device).manual_seed(seed)
    x = task.sample_real(samples, gen).double().cpu().numpy()
    return fit_gmm(x, components, seed, restarts=restarts)


def mle_baseline(mode: str, dataset: str | None, components: int, seed: int = 0,
                 samples: int = SAMPLES) -> dict:
    """The MLE baseline as plain data (JSON-ready): weights, means, covariances (1-D: means and
    variances as flat lists), kl = KL(P_data ‖ P_MLE), kl_rev = KL(P_MLE ‖ P_data) and jsd in nats.
    dataset None is the mode's default. Raises ConfigError naming the option that cannot be used."""
    if mode not in MLE_MODES:
        raise ConfigError("--mode", f"unknown mode {mode!r} for the MLE baseline; choose one of "
                                    f"{', '.join(MLE_MODES)} (the modes with a density)")
    check_int("--components", components, COMPONENTS_MIN, COMPONENTS_MAX)
    check_int("--seed", seed, 0, 2**63 - 1)
    check_int("--samples", samples, components, MAX_SAMPLES)
    import torch

    from ganviz.core.tasks import make_task

    task = make_task(TrainConfig.for_mode(mode, dataset=dataset, seed=seed, device="cpu"), torch.device("cpu"))
    fit = fit_task(task, components, seed, samples)
    if fit.dim == 1:
        means, covariances = fit.means[:, 0].tolist(), fit.variances.tolist()
    else:
        means, covariances = fit.means.tolist(), fit.covariances.tolist()
    return {"weights": fit.weights.tolist(), "means": means, "covariances": covariances, **divergences(task, fit)}


def check_int(option: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(option, f"must be an integer (got {value!r})")
    if not lo <= value <= hi:
        raise ConfigError(option, f"must be between {lo} and {hi} (got {value})")


# --- the window's MLE layer: fitted in the background, once per (target, K, seed) -----------------
CACHED_FITS = 32


def evaluate_fit(task, mixture: GaussianMixture, seed: int = 0, exact: dict[str, float] | None = None
                 ) -> dict[str, float]:
    """kl, kl_rev and jsd of the fit as the window measures the GAN, so the table's rows compare.
    1-D: `divergences` (the estimator's quadrature cells). 2-D: through the task's own `evaluate`,
    with samples of P_MLE where G's samples go and a constant D (whatever estimator the task uses,
    the MLE's numbers come from the same one); divergences that evaluate does not report come from
    the exact cell probabilities (`divergences`, or `exact` if the caller has them)."""
    if task.mode == "1d":
        return exact if exact is not None else divergences(task, mixture)
    import torch

    gen = torch.Generator(device=task.device).manual_seed(seed)
    sampler, constant_d = _make_stand_ins()
    measured = task.evaluate(sampler(mixture, seed, task.device), constant_d(), gen, views=False).metrics
    out = {}
    for key in ("kl", "kl_rev", "jsd"):
        value = measured.get(key, math.nan)
        if not math.isfinite(value):
            exact = divergences(task, mixture) if exact is None else exact
            value = exact[key]
        out[key] = float(value)
    return out


def _fit_and_measure(task, x: np.ndarray, components: int, seed: int, stop: threading.Event):
    """The background part of a window fit: EM, and the divergences that read only the task's fixed
    arrays (its grids and p_data), not its state: (mixture, divergences)."""
    mixture = fit_gmm(x, components, seed, restarts=RESTARTS, stop=stop)
    return mixture, divergences(task, mixture)


def sample(mixture: GaussianMixture, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, d) samples of P_MLE."""
    k = rng.choice(mixture.components, size=n, p=mixture.weights / mixture.weights.sum())
    chol = np.linalg.cholesky(mixture.covariances)
    return mixture.means[k] + np.einsum("nde,ne->nd", chol[k], rng.standard_normal((n, mixture.dim)))


@functools.lru_cache(maxsize=1)
def _make_stand_ins():
    """nn.Modules that stand where G and D go in Task.evaluate: G draws samples of P_MLE (whatever
    noise it is given, as many), D is 0 everywhere (the divergences do not depend on D)."""
    import torch
    from torch import nn

    class Sampler(nn.Module):
        def __init__(self, mixture: GaussianMixture, seed: int, device):
            super().__init__()
            self.mixture, self.rng, self.device = mixture, np.random.default_rng(seed), device

        def forward(self, z):
            x = sample(self.mixture, len(z), self.rng)
            return torch.as_tensor(x, dtype=torch.float32, device=self.device)

    class ConstantD(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), dtype=torch.float32, device=x.device)  # logits, as Discriminator gives

    return Sampler, ConstantD


@dataclass
class _Job:
    key: tuple
    stop: threading.Event
    future: Future


class Baseline:
    """The MLE layer's fits for a Session. `get` answers at once: the cached layer, or "fitting" while
    EM runs in one owned background thread (so neither the window nor training waits for it), or
    the reason a fit failed. A new request cancels the fit under way; `close` cancels and joins.
    P_data is sampled and the fit measured by Task.evaluate on the caller's thread (they use the
    task's state, which the caller owns); EM and the exact divergences (which read only the task's
    fixed grids) run in the background."""

    def __init__(self) -> None:
        self._cache: dict[tuple, object] = {}   # key -> MLELayer, or str (why it failed)
        self._job: _Job | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._landed = False

    def get(self, task, target: tuple, components: int, seed: int):
        """(layer or None, state): state is ready, fitting or the one-line reason a fit failed."""
        key = (target, components, seed)
        if key in self._cache:
            found = self._cache[key]
            return (found, "ready") if not isinstance(found, str) else (None, found)
        job = self._job
        if job is not None and job.key == key:
            if not job.future.done():
                return None, "fitting"
            self._job = None
            try:
                found = self._layer(task, *job.future.result(), components, seed)
            except Exception as exc:  # a failed fit is said, never raised into the training thread
                found = f"the MLE fit failed: {exc}"
            self._remember(key, found)
            return self.get(task, target, components, seed)
        self._cancel()
        import torch

        gen = torch.Generator(device=task.device).manual_seed(seed)
        x = task.sample_real(SAMPLES, gen).double().cpu().numpy()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mle-fit")
        stop = threading.Event()
        future = self._executor.submit(_fit_and_measure, task, x, components, seed, stop)
        future.add_done_callback(lambda _f: setattr(self, "_landed", True))
        self._job = _Job(key, stop, future)
        return None, "fitting"

    def landed(self) -> bool:
        """True once after a background fit has finished (the caller should publish a frame)."""
        landed, self._landed = self._landed, False
        return landed

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the fit under way (if any) is done; False on timeout. For tests and scripts."""
        job = self._job
        if job is None:
            return True
        try:
            job.future.exception(timeout=timeout)
        except TimeoutError:
            return False
        except Exception:
            pass
        return True

    def _layer(self, task, mixture: GaussianMixture, exact: dict[str, float], components: int, seed: int):
        from ganviz.core.frame import Curve, MLELayer

        density = Curve(task.x.copy(), p_mle_on_grid(task, mixture)) if task.mode == "1d" else None
        means, covariances = mixture.means.copy(), mixture.covariances.copy()
        if task.mode == "2d" and task.units is not None:
            # A point set trains standardised, its plane is drawn in the data's units: so are the ellipses.
            means = task.units.to_data(means)
            covariances = covariances * np.outer(task.units.scale, task.units.scale)
        return MLELayer(components, seed, mixture.weights.copy(), means, covariances,
                        evaluate_fit(task, mixture, seed, exact), density)

    def _remember(self, key: tuple, value) -> None:
        self._cache[key] = value
        while len(self._cache) > CACHED_FITS:
            del self._cache[next(iter(self._cache))]

    def _cancel(self) -> None:
        if self._job is not None:
            self._job.stop.set()
            self._job.future.cancel()
            self._job = None

    def close(self) -> None:
        self._cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
