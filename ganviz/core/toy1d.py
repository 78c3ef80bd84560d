"""The 1-D toy GAN: analytic targets on the line (or a user's data file, as a KDE in standardised
coordinates), and D, D*, P_G and the divergences on a grid."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganviz.core import divergence, estimator, losses
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.frame import Curve, Segments
from ganviz.core.models import Discriminator, Generator
from ganviz.core.oracle import DStarGrid, d_star_cells
from ganviz.core.points import Standardisation, column_name, is_points_file, read_point_set, spread_problem
from ganviz.core.task import Evaluation, Task

X_RANGE = (-6.0, 6.0)
GRID_POINTS = 512
KDE_SAMPLES = 10000  # noise floor with exact samples ≤ 0.002 nats on every target (tests/test_toy1d.py);
                     # the estimator (ganviz.core.estimator) costs ~1 ms of the evaluation for these
D_MEAN_SAMPLES = 2048  # mean D(x) to about ±0.01; more would cost the training thread at every snapshot
MAPPING_LINES = 41
QUANTILES = 8192      # equal-mass quantiles of P_z pushed through G when the noise is 1-D
SUBDIVIDE = 4         # points linearly interpolated per quantile interval (G is piecewise linear)
KDE_CENTRES = 8192    # a data file's KDE: its points as kernel centres, binned to this many beyond it


@dataclass(frozen=True)
class Picture1D:
    """What the 1-D view draws: the densities, D and D* on the grid, and Fig. 1's mapping z → x."""

    p_data: Curve
    p_g: Curve
    d: Curve
    d_star: Curve  # NaN where neither density has mass
    mapping: Segments
    d_label: str = "D(x)"
    d_range: tuple[float, float] = (0.0, 1.0)  # where D's values lie for this loss (a critic: its span)
    # A data file's target: everything above is in standardised x; the view labels its axes in the
    # data's own units, x = mean + scale·x_std (densities / scale), and names the axis.
    units: Standardisation | None = None
    axis_name: str = "x"
    target_note: str = ""  # a data file's KDE rule and bandwidth, for the mode settings


def metric_columns(loss: str) -> tuple[str, ...]:
    """metrics.csv's columns after step, d_loss, g_loss: the true divergences, and for the loss's D
    the quantity it estimates beside its true value (THEORY.md §3, §8)."""
    fam = losses.family(loss)
    if fam == "vanilla":
        return ("v", "jsd", "jsd_d", "kl", "kl_rev", "d_real", "d_fake")
    estimate, truth = losses.ESTIMATES[fam]
    return ("jsd", truth, estimate, "kl", "kl_rev", "d_real", "d_fake")


def d_picture(loss: str, p_data: np.ndarray, p_g: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray, str,
                                                                                         tuple[float, float]]:
    """D as each loss means it, its optimum (NaN where undefined), its label and the span of its values."""
    fam = losses.family(loss)
    if fam == "vanilla":
        # σ(t) = (1 + tanh(t/2))/2: exact, and no overflow warning for a blown-up D (|t| ≫ 700)
        return 0.5 * (1.0 + np.tanh(0.5 * out)), divergence.d_star(p_data, p_g), "D(x)", (0.0, 1.0)
    if fam == "lsgan":
        return out, divergence.lsgan_d_star(p_data, p_g), "D(x), LSGAN codes −1 fake / +1 real", (-1.0, 1.0)
    if fam == "hinge":
        return out, divergence.hinge_d_star(p_data, p_g), "critic f(x), hinge", (-1.0, 1.0)
    span = float(np.max(np.abs(out))) or 1.0
    return out, np.full_like(out, np.nan), "critic f(x) (WGAN: no pointwise optimum)", (-span, span)


def estimates(loss: str, p_data: np.ndarray, p_g: np.ndarray, out: np.ndarray, cell: float,
              w1: float | None = None) -> dict[str, float]:
    """The loss's true divergence and its D's estimate of it, on the grid (`out`: D's raw output)."""
    fam = losses.family(loss)
    if fam == "lsgan":
        return {"chi2": divergence.chi2(p_data, p_g, cell), "chi2_d": divergence.lsgan_estimate(p_data, p_g, out, cell)}
    if fam == "critic":
        return {"w1": divergence.w1_1d(p_data, p_g, cell) if w1 is None else w1,
                "w1_d": divergence.critic_estimate(p_data, p_g, out, cell)}
    if fam == "hinge":
        return {"tv": divergence.tv(p_data, p_g, cell), "tv_d": divergence.hinge_estimate(p_data, p_g, out, cell)}
    return {}


@dataclass(frozen=True)
class Component:
    """One term of a 1-D mixture: weight · (a location-scale density)."""

    weight: float
    loc: float
    scale: float
    kind: str = "normal"  # normal | lognormal (loc + exp(N(0, scale²))·e^mu) | student_t (ν = df)
    df: float = 3.0
    mu: float = 0.0

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "normal":
            t = (x - self.loc) / self.scale
            return -0.5 * t * t - math.log(self.scale * math.sqrt(2 * math.pi))
        if self.kind == "lognormal":
            y = x - self.loc
            out = np.full_like(x, -np.inf, dtype=np.float64)
            pos = y > 0
            ly = np.log(y[pos])
            out[pos] = -0.5 * ((ly - self.mu) / self.scale) ** 2 - ly - math.log(self.scale * math.sqrt(2 * math.pi))
            return out
        if self.kind == "student_t":
            nu = self.df
            t = (x - self.loc) / self.scale
            c = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi) - math.log(self.scale)
            return c - (nu + 1) / 2 * np.log1p(t * t / nu)
        raise ValueError(self.kind)

    def sample(self, eps: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """Transform standard normals `eps` (and, for Student-t, a chi-square(df) draw) into samples."""
        if self.kind == "normal":
            return self.loc + self.scale * eps
        if self.kind == "lognormal":
            return self.loc + torch.exp(self.mu + self.scale * eps)
        assert extra is not None
        return self.loc + self.scale * eps * torch.rsqrt(extra / self.df)

    def describe(self) -> str:
        if self.kind == "normal":
            return f"N({self.loc:g}, {self.scale:g}²)"
        if self.kind == "lognormal":
            return f"{self.loc:g} + LogNormal({self.mu:g}, {self.scale:g}²)"
        return f"t{self.df:g}({self.loc:g}, {self.scale:g})"


TARGETS_1D: dict[str, tuple[Component, ...]] = {
    "gaussian": (Component(1.0, 2.0, 0.5),),
    "bimodal": (Component(0.5, -2.0, 0.5), Component(0.5, 2.0, 0.5)),
    "trimodal": (Component(0.5, -3.0, 0.4), Component(0.3, 0.0, 0.4), Component(0.2, 3.0, 0.4)),
    "skewed": (Component(1.0, -2.5, 0.5, kind="lognormal", mu=0.7),),
    "heavytail": (Component(1.0, 0.0, 0.6, kind="student_t", df=3.0),),
}


class Mixture1D:
    """p_data(x) = Σ w_i p_i(x), with exact log-density and exact sampling."""

    def __init__(self, components: tuple[Component, ...]):
        self.components = components
        weights = np.array([c.weight for c in components], dtype=np.float64)
        self.weights = weights / weights.sum()
        self._weights_t: dict[torch.device, torch.Tensor] = {}  # the weights on each device sampled on

    def sampling_tensor(self, device: torch.device) -> torch.Tensor:
        """The mixture weights on `device` (what `sample` draws components from), made once."""
        return _made_once(self._weights_t, self.weights, device)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return sum(w * np.exp(c.log_prob(x)) for w, c in zip(self.weights, self.components))

    def sample(self, m: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        eps = torch.randn(m, 1, generator=gen, device=device)
        if len(self.components) == 1:
            c = self.components[0]
            return c.sample(eps, self._chi2(c, m, gen, device))
        idx = torch.multinomial(self.sampling_tensor(device), m, replacement=True, generator=gen).unsqueeze(1)
        out = torch.empty_like(eps)
        for i, c in enumerate(self.components):
            out = torch.where(idx == i, c.sample(eps, self._chi2(c, m, gen, device)), out)
        return out

    @staticmethod
    def _chi2(c: Component, m: int, gen: torch.Generator, device: torch.device) -> torch.Tensor | None:
        if c.kind != "student_t":
            return None
        return torch.randn(m, int(c.df), generator=gen, device=device).square().sum(1, keepdim=True)

    def describe(self) -> str:
        if len(self.components) == 1:
            return self.components[0].describe()
        return " + ".join(f"{w:g}·{c.describe()}" for w, c in zip(self.weights, self.components))


def _made_once(cache: dict[torch.device, torch.Tensor], values: np.ndarray, device: torch.device) -> torch.Tensor:
    """`values` as a float32 tensor on `device`, made on first use and kept in `cache`: sampling then
    copies nothing from the host per step (a per-call copy cost time on a CPU and broke CUDA graph
    capture)."""
    t = cache.get(device)
    if t is None:
        t = cache[device] = torch.as_tensor(values, dtype=torch.float32, device=device)
    return t


class PointKDE1D:
    """A 1-D data file as P_data, in standardised coordinates (mean 0, std 1; `units` maps back):
    a Gaussian KDE with Scott's rule h = n^(−1/5) there, i.e. h = std·n^(−1/5) in the data's units
    (scipy's gaussian_kde convention, as the 2-D n^(−1/6)). Exact sampling (a point plus h·ε) and
    log-density (its points as centres, or binned onto KDE_CENTRES bins for larger sets)."""

    def __init__(self, name: str, points: np.ndarray, column: str):
        points = np.asarray(points, dtype=np.float64).reshape(-1)
        self.name, self.column, self.n = name, column, len(points)
        self.units = Standardisation.of(points[:, None])
        self.z = self.units.to_standard(points[:, None])[:, 0]
        self.h = self.n ** (-1 / 5)
        if self.n <= KDE_CENTRES:
            self.centres, self.weights = self.z, np.full(self.n, 1.0 / self.n)
        else:
            counts, edges = np.histogram(self.z, bins=KDE_CENTRES)
            keep = counts > 0
            self.centres = (0.5 * (edges[1:] + edges[:-1]))[keep]
            self.weights = counts[keep] / self.n
        self._points_t: dict[torch.device, torch.Tensor] = {}

    def sampling_tensor(self, device: torch.device) -> torch.Tensor:
        """The standardised points on `device` (what `sample` draws from), made once."""
        return _made_once(self._points_t, self.z, device)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1)
        out = np.empty_like(flat)
        logw = np.log(self.weights) - math.log(self.h * math.sqrt(2 * math.pi))
        for i in range(0, len(flat), 512):
            t = (flat[i:i + 512, None] - self.centres[None, :]) / self.h
            terms = logw[None, :] - 0.5 * t * t
            top = terms.max(axis=1)
            out[i:i + 512] = top + np.log(np.exp(terms - top[:, None]).sum(axis=1))
        return out.reshape(x.shape)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.log_pdf(x))

    def sample(self, m: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        points = self.sampling_tensor(device)
        idx = torch.randint(len(points), (m,), generator=gen, device=device)
        return (points[idx] + self.h * torch.randn(m, generator=gen, device=device)).unsqueeze(1)

    def describe(self) -> str:
        return f"{self.n} values, KDE h = {self.h * float(self.units.scale[0]):.3g} (Scott)"

    def note(self) -> str:
        return (f"P_data: a Gaussian KDE of the {self.n} values, Scott's rule h = std·n^(−1/5) = "
                f"{self.h * float(self.units.scale[0]):.3g} ({self.column}). Trained standardised (mean 0, "
                "std 1), shown in the data's units.")


def point_target_1d(path: str) -> PointKDE1D:
    """The 1-D target of a data file (.csv with one numeric column, .npy of shape (N,) or (N, 1));
    ConfigError('--dataset', …) naming the problem when it cannot be one."""
    try:
        data = read_point_set(path, columns=1)
    except ValueError as exc:
        raise ConfigError("--dataset", str(exc)) from None
    name = Path(path).name
    problem = spread_problem(name, data.points, data.names)
    if problem is not None:
        raise ConfigError("--dataset", problem)
    return PointKDE1D(name, data.points[:, 0], column_name(data.names, 0, 1))


class Toy1DTask(Task):
    mode = "1d"
    max_threads = 1
    datasets = tuple(TARGETS_1D)
    metric_names = ("v", "jsd", "jsd_d", "kl", "kl_rev", "d_real", "d_fake")

    def __init__(self, cfg: TrainConfig, device: torch.device):
        super().__init__(cfg, device)
        self.metric_names = metric_columns(cfg.loss)
        if cfg.dataset in TARGETS_1D:
            self.target = Mixture1D(TARGETS_1D[cfg.dataset])
            log_pdf = estimator.mixture_log_pdf(self.target.weights, self.target.components)
            self.units, self.column = None, "x"
        elif is_points_file(cfg.dataset):
            self.target = point_target_1d(cfg.dataset)
            log_pdf = self.target.log_pdf
            self.units, self.column = self.target.units, self.target.column
        else:
            raise ConfigError("--dataset", f"unknown 1-D dataset {cfg.dataset!r}; choose one of "
                                           f"{', '.join(TARGETS_1D)}, or a .csv/.npy file of values")
        self.target.sampling_tensor(device)  # made here, on the task's device, not in the training step
        lo, hi = X_RANGE
        self.cell = (hi - lo) / GRID_POINTS
        self.x = lo + self.cell * (np.arange(GRID_POINTS) + 0.5)  # bin centres
        self.p_data = self.target.pdf(self.x)
        self.estimator = estimator.Estimator1D(log_pdf)
        self._x_t = torch.as_tensor(self.x, dtype=torch.float32, device=device).unsqueeze(1)
        self._p_quad = torch.as_tensor(self.estimator.p)  # exact p_data on the quadrature cells, for D*
        self._no_data = torch.zeros(1, device=device)
        self._real_eval = None
        self._kde_noise = None
        self._z_line = self._noise_quantiles(MAPPING_LINES)
        self._z_quantiles = self._noise_quantiles(QUANTILES)

    def describe(self) -> str:
        name = self.target.name if self.units is not None else self.cfg.dataset
        return f"{name}: {self.target.describe()}"

    def to_data(self, x: np.ndarray) -> np.ndarray:
        """Values of the task's coordinates (G's output) in the data's own units (float64)."""
        x = np.asarray(x, dtype=np.float64)
        return x if self.units is None else self.units.to_data(x.reshape(-1, 1)).reshape(x.shape)

    def to_task(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x if self.units is None else self.units.to_standard(x.reshape(-1, 1)).reshape(x.shape)

    def sample_columns(self) -> tuple[str, ...]:
        """samples.csv's header: the data file's column name, else x."""
        return (self.column,)

    @torch.no_grad()
    def generated_samples(self, G, n: int, gen: torch.Generator) -> np.ndarray:
        """n samples of P_G in the data's units, (n, 1) float64, drawn in chunks."""
        parts = [self.to_data(G(self.sample_noise(min(65536, n - i), gen)).double().cpu().numpy())
                 for i in range(0, n, 65536)]
        return np.concatenate(parts) if parts else np.empty((0, 1))

    def data_extent(self) -> float:
        return float(X_RANGE[1] - X_RANGE[0])

    def build_generator(self):
        return Generator(self.cfg.noise_dim, 1, self.cfg.hidden, self.cfg.layers)

    def build_discriminator(self):
        return Discriminator(1, self.cfg.hidden, self.cfg.layers)

    def sample_real(self, m, gen):
        return self.target.sample(m, gen, self.device)

    def density_of_samples(self, samples: torch.Tensor) -> np.ndarray:
        """p_G on the plotted grid from samples: the shared estimator's adaptive KDE
        (ganviz.core.estimator), averaged over each grid cell. Not renormalised: mass outside
        X_RANGE is simply not drawn (the divergences count it)."""
        return self._estimate(samples)[1]

    def _estimate(self, samples: torch.Tensor) -> tuple[estimator.Estimate, np.ndarray]:
        est = self.estimator.estimate(samples.detach().reshape(-1).double().cpu().numpy())
        lo, hi = X_RANGE
        return est, self.estimator.on_grid(est.q, lo, hi, GRID_POINTS)

    def estimate_generator(self, G) -> tuple[estimator.Estimate, np.ndarray]:
        """The divergences of P_G from P_data and p_G on the plotted grid, by the shared estimator.
        With 1-D noise its samples are the stratified points: QUANTILES equal-mass quantiles of P_z
        pushed through G with SUBDIVIDE points linearly interpolated inside each interval (G is
        piecewise linear), which resolves the sharp peaks a generator makes where G is flat with
        far less noise than random samples. With more noise dimensions: KDE_SAMPLES samples from
        one fixed noise draw."""
        if self.cfg.noise_dim != 1:
            return self._estimate(self._kde_samples(G))
        x = G(self._z_quantiles)[:, 0]
        t = torch.arange(SUBDIVIDE, device=x.device, dtype=x.dtype) / SUBDIVIDE
        points = (x[:-1, None] + (x[1:] - x[:-1])[:, None] * t).reshape(-1)
        return self._estimate(points)

    @torch.no_grad()
    def d_star_grid(self, G) -> DStarGrid:
        """D* = p_data/(p_data + p_G) of G's current P_G on the estimator's quadrature cells (THEORY.md §7):
        exact p_data, p_G as estimate_generator reads it; 0 beyond them, where p_data has no mass."""
        q = torch.as_tensor(self.estimate_generator(G)[0].q)
        values = d_star_cells(self._p_quad, q).to(device=self.device, dtype=torch.float32).view(1, 1, -1)
        lo, hi = estimator.QUAD_RANGE
        return DStarGrid(values, (lo,), (hi,), self._no_data)

    def density_of_generator(self, G) -> np.ndarray:
        """p_G on the plotted grid (see estimate_generator)."""
        return self.estimate_generator(G)[1]

    def _kde_samples(self, G) -> torch.Tensor:
        """KDE_SAMPLES samples of P_G from one fixed noise draw (drawn once), so evaluations agree."""
        if self._kde_noise is None:
            self._kde_noise = self.sample_noise(KDE_SAMPLES, self._density_gen())
        return G(self._kde_noise)[:, 0]

    def mapping(self, G, p_g: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Goodfellow et al. Fig. 1: MAPPING_LINES equal-mass quantiles z_i of P_z and where they go.
        With 1-D noise that is G(z_i) itself. With more noise dimensions no single line of z carries
        P_G, so z_i goes to the same quantile of P_G (the monotone map with the same push-forward),
        read off the CDF of p_G on the grid (`p_g`, if the caller has it): the lines still crowd
        where P_G is dense and spread where it is thin."""
        z = self._z_line[:, 0].cpu().numpy().astype(np.float64)
        if self.cfg.noise_dim == 1:
            return z, G(self._z_line)[:, 0].double().cpu().numpy()
        if p_g is None:
            p_g = self.density_of_generator(G)
        cdf = np.concatenate(([0.0], np.cumsum(p_g)))
        if cdf[-1] <= 0:  # every sample left the plotted range
            return z, np.full_like(z, np.nan)
        q = (np.arange(MAPPING_LINES) + 0.5) / MAPPING_LINES
        edges = X_RANGE[0] + self.cell * np.arange(GRID_POINTS + 1)
        keep = np.concatenate(([True], np.diff(cdf) > 0))  # strictly increasing for interpolation
        return z, np.interp(q * cdf[-1], cdf[keep], edges[keep])

    def _density_gen(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.cfg.seed + 3)

    @torch.no_grad()
    def evaluate(self, G, D, gen, views=True, loss=None):
        loss = loss or self.cfg.loss
        fake = G(self.sample_noise(D_MEAN_SAMPLES, gen))
        if not bool(torch.isfinite(fake).all()):
            return Evaluation({"v": math.nan})
        est, p_g = self.estimate_generator(G)
        logits = D(self._x_t).double().cpu().numpy()
        log_d = -np.logaddexp(0.0, -logits)
        log_1md = -np.logaddexp(0.0, logits)
        jsd, kl, kl_rev = est.jsd, est.kl, est.kl_rev  # the shared estimator: all of P_G counts
        if p_g.sum() <= 0:  # every generated sample left the plotted range: no V on the grid
            v = math.nan
        else:
            p_g = p_g / (p_g.sum() * self.cell)  # V, D* and the D estimates on the plotted range
            v = divergence.value_on_grid(self.p_data, p_g, log_d, log_1md, self.cell)
        if self._real_eval is None:
            self._real_eval = self.sample_real(D_MEAN_SAMPLES, gen)
        vanilla = losses.family(loss) == "vanilla"
        mean_d = (lambda o: float(torch.sigmoid(o).mean())) if vanilla else (lambda o: float(o.mean()))
        metrics = {
            "v": v,
            "jsd": jsd,
            "jsd_d": divergence.jsd_lower_bound(v),
            "kl": kl,
            "kl_rev": kl_rev,
            "d_real": mean_d(D(self._real_eval)),
            "d_fake": mean_d(D(fake)),
        }
        if not vanilla and p_g.sum() > 0:
            metrics.update(estimates(loss, self.p_data, p_g, logits, self.cell))
        metrics = {name: metrics.get(name, math.nan) for name in metric_columns(loss)}
        if not views:
            return Evaluation(metrics)
        d, d_opt, label, span = d_picture(loss, self.p_data, p_g, logits)
        z, g_of_z = self.mapping(G, p_g)
        x = self.x
        return Evaluation(metrics, Picture1D(
            p_data=Curve(x, self.p_data),
            p_g=Curve(x, p_g),
            d=Curve(x, d),
            d_star=Curve(x, d_opt),
            mapping=Segments(z, g_of_z),
            d_label=label,
            d_range=span,
            units=self.units,
            axis_name=self.column,
            target_note=self.target.note() if self.units is not None else "",
        ))

    def _noise_quantiles(self, n: int) -> torch.Tensor:
        """n equal-mass quantiles of P_z along the first noise coordinate (the others at 0)."""
        q = torch.as_tensor((np.arange(n) + 0.5) / n, dtype=torch.float64)
        first = 2 * q - 1 if self.cfg.noise == "uniform" else math.sqrt(2) * torch.erfinv(2 * q - 1)
        z = torch.zeros(n, self.cfg.noise_dim)
        z[:, 0] = first.float()
        return z.to(self.device)


