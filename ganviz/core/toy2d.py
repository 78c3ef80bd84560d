"""The 2-D toy GAN: Gaussian-mixture targets in the plane, and D, JSD and mode coverage on a grid.

Every target is an equal-weight mixture of isotropic Gaussians N(c_k, σ²I): the literature's
ring8 and grid25 directly, moons and spiral as a curve discretised finely enough (spacing ≤ σ/3)
that the mixture equals the blurred curve to machine precision, and a user's point set as one
component per point (a KDE: Scott's rule for a loaded file, the stroke width for drawn points),
held in standardised coordinates (core/points.py's Standardisation): the task trains, samples and
measures there, and maps the pictures back to the data's units, so 1e9 ± 2.5 or a 1e-6-wide cloud
trains like a unit one.
So sampling is exact (index into the centre tensor, add σ·ε) and so is
p_data on the grid (each component integrated over every cell with erf, separably), which
matters where σ = 0.01 is far narrower than a cell.

JSD estimator (ganviz.core.estimator.Estimator2D, shared by the window, `ganviz train`, sweeps and
`ganviz measure`): p_data's exact cell probabilities against a sample-point adaptive Gaussian KDE of
P_G, on the GRID×GRID cells refined to fine cells of ~σ/3 where P_data has mass, plus one cell for
everything outside the region. v = V(G, D) on a coarsening of those cells (the cells P_data fills
split as finely as V_POINTS evaluations of D allow, the rest of the grid) with D at the cell centres
(and D's mean on the border for the outside cell): a coarsening's JSD never exceeds the finer cells',
so jsd_d = (v + log 4)/2 never exceeds the cells' JSD. The jsd reported has the KDE's variance bias
taken off (estimator.py), so where G is close to P_data a bound fitted to the same noisy cells (Fit D*)
can sit up to ~0.004 nats above it with EVAL_SAMPLES (measured on exact samples: ring8 0.0005, grid25
0.0022, spiral 0.0034, gaussian 0.0042). Figures (noise floor, bias, cost) in estimator.py and the
README. (self.p_data, blurred by σ/2 on the GRID cells, remains for the MLE baseline's grid.)
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganviz.core import divergence, losses
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.estimator import GRID_2D, Estimator2D
from ganviz.core.frame import Arrows, Field, Polylines, Scatter
from ganviz.core.models import Discriminator, Generator
from ganviz.core.oracle import DStarGrid, d_star_cells
from ganviz.core.points import (MAX_ABS, Standardisation, column_name, is_points_file, read_point_set,
                                 spread_problem)
from ganviz.core.task import Evaluation, Task

GRID = GRID_2D          # cells per side of the metric grid and of the D heatmap
BLUR_SIGMAS = 0.5       # the MLE baseline's grid (mle.py) is still blurred by N(0, (σ/2)²I)
EVAL_SAMPLES = 10_000   # generated samples per JSD reading: noise floor ≤ 0.0067 nats, ~3 ms of G
V_POINTS = 8192         # V(G, D): D at most at this many sub-cell centres of the cells P_data fills, besides the grid
# With D = D* the bound on V's coarser cells still reads up to this share below the JSD of the finer
# cells (measured: ring8 5%, grid25 8%): Fit D*'s message allows it before saying D missed D*.
BOUND_CELLS_GAP = 0.08
COVERAGE_SAMPLES = 2500  # VEEGAN/PacGAN convention (THEORY.md §5)
HQ_SIGMAS = 3.0          # a sample within 3σ of its nearest centre is high quality
SHOWN = 1000            # real and generated points drawn in the view
VIEW_GROWTH = 1.5       # the D heatmap's square grows by this factor, up to VIEW_MAX_GROWTHS times, to
VIEW_MAX_GROWTHS = 4    # cover the shown fakes when they leave the region (D where the fakes are)
ARROWS = 100            # gradient arrows drawn (on the first generated points): a readable subset
D_MEAN_SAMPLES = 2048   # real samples for mean D(x): ±0.01
MANIFOLD_LINES = 11     # lines per noise coordinate, at equal-mass quantiles of P_z
MANIFOLD_POINTS = 64    # points per line (G is piecewise linear, this is smooth on screen)
CURVE_POINTS = 512      # points of the curve drawn for 1-D noise
CURVE_SPACING = 1 / 3   # curve targets: centres this many σ apart along the curve
MAX_CURVE_CENTRES = 50_000
POINT_SIGMA = 0.02      # drawn strokes: σ = spread × 2% of the drawing's extent (its larger side)
INTERNAL_HALF = 1.5     # G and D work in coordinates where the region is [-1.5, 1.5]²
# G, D, the samples and the grid are float32, whose steps are 2^-23 of the magnitude. σ must span
# MIN_SIGMA_STEPS of them at the region's largest coordinate, or samples, HQ's 3σ and the cells
# are lost in rounding (an extreme --spread; point sets are standardised first, so 1e9 ± 2.5 trains).
FLOAT32_STEP = 2.0 ** -23
MIN_SIGMA_STEPS = 16
MIN_SIGMA = 1e-15        # and σ at least this, coordinates within ±MAX_ABS (points.py says why)


@dataclass(frozen=True)
class Picture2D:
    """What the 2-D view draws: D(x) on the grid, real and generated samples, G's manifold, the
    direction the G loss pushes each shown fake, and the mode centres (None when not a mixture)."""

    d: Field
    real: Scatter
    fake: Scatter
    manifold: Polylines
    arrows: Arrows
    centres: Scatter | None
    d_label: str = "D(x)"
    d_range: tuple[float, float] = (0.0, 1.0)  # where D's values lie for this loss (a critic: its span)
    axis_names: tuple[str, str] = ("x₁", "x₂")  # a point file's own column names, when it had a header
    target_note: str = ""  # a point file's KDE rule and bandwidths, for the mode settings


def metric_columns(loss: str, mixture: bool = True) -> tuple[str, ...]:
    """metrics.csv's columns after step, d_loss, g_loss for `loss` (its D's estimate beside the truth);
    modes and hq only for a `mixture` target (a point set has no modes to count)."""
    fam = losses.family(loss)
    coverage = ("modes", "hq") if mixture else ()
    if fam == "vanilla":
        return ("v", "jsd", "jsd_d", *coverage, "d_real", "d_fake")
    estimate, truth = losses.ESTIMATES[fam]
    return ("jsd", truth, estimate, *coverage, "d_real", "d_fake")


# Fixed directions of the sliced W1 (the 2-D W1 a critic estimates; THEORY.md §8): 64 angles in [0, π).
SLICES = np.column_stack((np.cos(np.pi * np.arange(64) / 64), np.sin(np.pi * np.arange(64) / 64)))


@dataclass(frozen=True)
class Target2D:
    """P_data = (1/K) Σ_k N(centres_k, σ²I), the square region it is drawn and measured on,
    and the centres mode coverage counts (None where the components are not modes). For a point
    set all of these are in standardised coordinates and `units` maps them to the data's own;
    `columns` names the data's axes (its file's header, else x1, x2)."""

    name: str
    centres: np.ndarray          # (K, 2) float64
    sigma: float
    region: tuple[float, float, float, float]  # x0, x1, y0, y1 (square)
    description: str
    modes: np.ndarray | None
    units: Standardisation | None = None
    columns: tuple[str, str] = ("x1", "x2")
    note: str = ""  # a point file's KDE: its rule and bandwidths in full, for the mode settings


def _region(centres: np.ndarray, sigma: float, margin: float) -> tuple[float, float, float, float]:
    """The square around the centres' bounding box, widened by max(margin, 4.5σ) on every side
    (the Gaussian tail beyond 4.5σ holds 4·10⁻⁵ of the mass)."""
    lo, hi = centres.min(axis=0), centres.max(axis=0)
    mid = 0.5 * (lo + hi)
    half = 0.5 * float((hi - lo).max()) + max(margin, 4.5 * sigma)
    return (float(mid[0] - half), float(mid[0] + half), float(mid[1] - half), float(mid[1] + half))


def _along_curve(curve: np.ndarray, spacing: float) -> np.ndarray:
    """Points at equal arc-length `spacing` along a finely tabulated polyline (uniform density on the curve)."""
    seg = np.hypot(*np.diff(curve, axis=0).T)
    s = np.concatenate(([0.0], np.cumsum(seg)))
    ratio = s[-1] / spacing if spacing > 0 else math.inf  # a σ that underflowed asks for the most centres
    n = MAX_CURVE_CENTRES if not ratio < MAX_CURVE_CENTRES else max(2, math.ceil(ratio))
    at = (np.arange(n) + 0.5) * s[-1] / n
    return np.column_stack((np.interp(at, s, curve[:, 0]), np.interp(at, s, curve[:, 1])))


def ring8(spread: float) -> Target2D:
    a = 2 * np.pi * np.arange(8) / 8
    c = np.column_stack((np.cos(a), np.sin(a)))
    s = 0.01 * spread
    return Target2D("ring8", c, s, _region(c, s, 0.5),
                    f"ring8: 8 Gaussians at (cos 2πi/8, sin 2πi/8), σ = {s:g}", c)


def grid25(spread: float) -> Target2D:
    g = np.arange(-4.0, 5.0, 2.0)
    c = np.array([(x, y) for y in g for x in g])
    s = 0.05 * spread
    return Target2D("grid25", c, s, _region(c, s, 1.0),
                    f"grid25: 25 Gaussians at {{−4,−2,0,2,4}}², σ = {s:g}", c)


def gaussian(spread: float) -> Target2D:
    c = np.array([[1.0, 1.0]])
    s = 0.5 * spread
    return Target2D("gaussian", c, s, _region(c, s, 0.0), f"gaussian: N((1, 1), {s:g}² I)", c)


def moons(spread: float) -> Target2D:
    # sklearn's make_moons, centred: two unit half-circles, the lower one shifted by (1, -0.5).
    t = np.linspace(0.0, np.pi, 4001)
    upper = np.column_stack((np.cos(t), np.sin(t))) - (0.5, 0.25)
    lower = np.column_stack((1 - np.cos(t), 0.5 - np.sin(t))) - (0.5, 0.25)
    s = 0.05 * spread
    c = np.concatenate((_along_curve(upper, s * CURVE_SPACING), _along_curve(lower, s * CURVE_SPACING)))
    return Target2D("moons", c, s, _region(c, s, 0.5),
                    f"moons: two interleaved unit half-circles, uniform along each, blurred by σ = {s:g}", None)


def spiral(spread: float) -> Target2D:
    # The 2-D swiss roll, θ from 1.5π to 4.5π with r ∝ θ, scaled so that r runs from 2/3 to 2.
    th = np.linspace(1.5 * np.pi, 4.5 * np.pi, 20001)
    r = 2 * th / (4.5 * np.pi)
    s = 0.05 * spread
    c = _along_curve(np.column_stack((r * np.cos(th), r * np.sin(th))), s * CURVE_SPACING)
    return Target2D("spiral", c, s, _region(c, s, 0.5),
                    f"spiral: 1.5 turns, r = 2θ/4.5π for θ in [1.5π, 4.5π], uniform along it, blurred by σ = {s:g}",
                    None)


TARGETS_2D = {"ring8": ring8, "grid25": grid25, "moons": moons, "spiral": spiral, "gaussian": gaussian}


def point_target(name: str, points: np.ndarray, spread: float, rule: str = "stroke",
                 columns: tuple[str, ...] | None = None) -> Target2D:
    """A point set as P_data: one Gaussian per point (a Gaussian KDE of the points), in standardised
    coordinates (`units` maps them back).
    rule "stroke" (drawn strokes): one common scale for both axes (the drawing's extent, or 1 when
    the points coincide, so degenerate data still has a target) and σ = spread × 2% of the extent.
    rule "scott" (a loaded point file): each axis standardised to mean 0, std 1, and Scott's rule
    for a 2-D Gaussian kernel, h = n^(−1/6) per standardised axis (× spread): in the data's units a
    diagonal kernel with h_i = std_i·n^(−1/6). The caller refuses a column with no spread first
    (points.spread_problem)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    names = (column_name(columns, 0, 2), column_name(columns, 1, 2))
    units = Standardisation.of(points, isotropic=rule != "scott")
    z = units.to_standard(points)
    if rule == "scott":
        s = spread * len(points) ** (-1 / 6)
        hx, hy = s * units.scale
        how = f"KDE h = {hx:.3g}, {hy:.3g} (Scott)"
        note = (f"P_data: a Gaussian KDE of the {len(points)} points, Scott's rule per axis h = std·n^(−1/6)"
                + (f" × spread {spread:g}" if spread != 1 else "")
                + f": h({names[0]}) = {hx:.3g}, h({names[1]}) = {hy:.3g}. Trained standardised "
                  "(mean 0, std 1 per axis), shown in the data's units.")
        margin = 0.15 * float(np.ptp(z, axis=0).max())
    else:
        s = POINT_SIGMA * spread
        how = f"each blurred by N(0, σ²I), σ = {s * float(units.scale[0]):.3g}"
        note = ""
        margin = 0.15
    return Target2D(name, z, s, _region(z, s, margin), f"{name}: {len(points)} points, {how}", None,
                    units=units, columns=names, note=note)


def usable_problem(target: Target2D) -> str | None:
    """Why float32 training cannot use `target` (coordinates or σ outside the range it represents,
    or σ below its resolution at the target's distance from the origin), or None."""
    reach = float(np.abs(np.asarray(target.region)).max())
    sigma = target.sigma
    if not (math.isfinite(reach) and reach <= MAX_ABS):
        return f"the target reaches {reach:.3g}, beyond the ±{MAX_ABS:.0e} that training in float32 can use"
    if not (math.isfinite(sigma) and sigma >= MIN_SIGMA):
        return f"its blur σ = {sigma:.3g} is below {MIN_SIGMA:.0e}, the finest that training in float32 can use"
    step = FLOAT32_STEP * reach
    if sigma < MIN_SIGMA_STEPS * step:
        return (f"its blur σ = {sigma:.3g} is finer than float32 resolves {reach:.3g} from the origin "
                f"(steps of {step:.2g}; σ must be at least {MIN_SIGMA_STEPS * step:.2g})")
    return None


def make_target(cfg: TrainConfig) -> Target2D:
    """The target named by cfg.dataset; ConfigError('--dataset', …) when there is none, and
    ConfigError naming --spread or --dataset when float32 training could not use it."""
    target = _build_target(cfg)
    problem = usable_problem(target)
    if problem is None:
        return target
    if target.name in TARGETS_2D:
        raise ConfigError("--spread", f"{cfg.spread:g} does not fit {target.name}: {problem}")
    raise ConfigError("--dataset", f"{target.name}: {problem}; shift the points towards the origin (e.g. subtract "
                                   "their mean) or rescale them")


def _build_target(cfg: TrainConfig) -> Target2D:
    name = cfg.dataset
    if name in TARGETS_2D:
        return TARGETS_2D[name](cfg.spread)
    if name == "drawn":
        raw = cfg.extra.get("points") if isinstance(cfg.extra, dict) else None
        try:
            points = np.asarray(raw, dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise ConfigError("--dataset", "the drawn target needs points as a list of [x, y] pairs") from None
        if len(points) == 0 or not np.isfinite(points).all():
            raise ConfigError("--dataset", "the drawn target needs at least one finite [x, y] point")
        if np.abs(points).max() > MAX_ABS:
            raise ConfigError("--dataset", f"drawn: the target reaches {np.abs(points).max():.3g}, beyond "
                                           f"float32's range (±{MAX_ABS:.2g})")
        return point_target("drawn", points, cfg.spread)
    if is_points_file(name):
        try:
            data = read_point_set(name)
        except ValueError as exc:
            raise ConfigError("--dataset", str(exc)) from None
        problem = spread_problem(Path(name).name, data.points, data.names)
        if problem is not None:
            raise ConfigError("--dataset", problem)
        return point_target(Path(name).name, data.points, cfg.spread, rule="scott", columns=data.names)
    raise ConfigError("--dataset", f"unknown 2-D dataset {name!r}; choose one of {', '.join(TARGETS_2D)}, "
                                   "drawn, or a .csv/.npy file of x, y points")


def cell_probabilities(centres: np.ndarray, sigma: float, edges_x: np.ndarray, edges_y: np.ndarray,
                       chunk: int = 4096) -> np.ndarray:
    """P(cell) under (1/K) Σ N(c_k, σ²I), exact: each isotropic component factorises, so the
    mass of cell (i, j) is [Φ(y-edges)]_i · [Φ(x-edges)]_j, summed over components as a matrix
    product. Rows are y, columns x. Mass outside the grid is 1 − the sum. More than EXACT_CENTRES
    centres are first pooled (pooled_centres): the cost is K × the cells, ~1 min for a 10⁶-point file."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    weights = None
    if len(centres) > EXACT_CENTRES:
        centres, weights = pooled_centres(centres, sigma)
    out = np.zeros((len(edges_y) - 1, len(edges_x) - 1))
    ex = torch.as_tensor(edges_x, dtype=torch.float64)
    ey = torch.as_tensor(edges_y, dtype=torch.float64)
    scale = 1.0 / (sigma * math.sqrt(2.0))
    for start in range(0, len(centres), chunk):
        c = torch.as_tensor(centres[start:start + chunk], dtype=torch.float64)
        fx = torch.diff(0.5 * torch.erf((ex[None, :] - c[:, :1]) * scale), dim=1)  # (k, W)
        fy = torch.diff(0.5 * torch.erf((ey[None, :] - c[:, 1:]) * scale), dim=1)  # (k, H)
        if weights is not None:
            fy = fy * torch.as_tensor(weights[start:start + chunk, None])
        out += (fy.T @ fx).numpy()
    return out / (len(centres) if weights is None else float(weights.sum()))


EXACT_CENTRES = 65536  # up to this many kernels P_data's cell masses sum every one of them
POOL_PITCH = 0.25      # × σ: the square bins in which more kernels are pooled


def pooled_centres(centres: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The kernels N(c_k, σ²I) pooled in square bins POOL_PITCH·σ wide: one kernel per non-empty bin,
    at the mean of its centres, weighted by their number (the 1-D KDE bins its centres likewise).
    Each kernel moves by less than the bin's width and the pooled mixture keeps every bin's mass and
    mean: the kernel's variance grows by at most (POOL_PITCH·σ)²/12 (0.5%), and the cell masses of 10⁵
    standard-normal points changed by 0.03% of the largest, of a cluster narrower than σ by 0.4%."""
    pitch = POOL_PITCH * sigma
    lo = centres.min(axis=0)
    cell = np.floor((centres - lo) / pitch).astype(np.int64)
    key = cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1]
    _, which, counts = np.unique(key, return_inverse=True, return_counts=True)
    means = np.column_stack([np.bincount(which, weights=centres[:, i]) for i in (0, 1)]) / counts[:, None]
    return means, counts.astype(np.float64)


def mode_coverage(samples: np.ndarray, centres: np.ndarray, sigma: float) -> tuple[int, float]:
    """VEEGAN/PacGAN mode coverage: a sample is high quality when it lies within 3σ of its nearest
    centre; a mode is covered when it is the nearest centre of at least one high-quality sample.
    Returns (modes covered, fraction of high-quality samples); NaN samples are never high quality."""
    samples = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    if len(samples) == 0:
        return 0, math.nan
    d2 = ((samples[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    nearest = np.argmin(np.nan_to_num(d2, nan=np.inf), axis=1)
    dist = np.sqrt(d2[np.arange(len(samples)), nearest])
    hq = dist <= HQ_SIGMAS * sigma
    return int(np.unique(nearest[hq]).size), float(hq.mean())


def blur_matrix(n: int, sigma_cells: float) -> torch.Tensor | None:
    """The (n, n) matrix B with B @ p = p blurred by a Gaussian of `sigma_cells` along one axis,
    or None when the blur is narrower than a quarter cell (binning already dominates). Columns
    sum to one, so mass near the border stays in the grid. Applied as B P Bᵀ with torch: two
    128² products cost ~0.3 ms, a convolution per row and column (or NumPy's threaded BLAS
    competing with torch's threads) costs 10–100× more."""
    if sigma_cells <= 0.25:
        return None
    i = torch.arange(n, dtype=torch.float64)
    b = torch.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma_cells) ** 2)
    b[b < 1e-12] = 0.0
    return b / b.sum(dim=0, keepdim=True)


def blur(p: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return p if b is None else b @ p @ b.T


class Affine(nn.Module):
    """x ↦ x·scale + shift with fixed buffers: G and D see the region as [-1.5, 1.5]² whatever
    the data's units, so a target at x ≈ 1000 trains like one at x ≈ 1."""

    def __init__(self, scale: float, shift: tuple[float, float]):
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32))

    def forward(self, x):
        return x * self.scale + self.shift


class Toy2DTask(Task):
    mode = "2d"
    bound_cells_gap = BOUND_CELLS_GAP  # see fit_message: the bound's ceiling on V's cells
    max_threads = 1
    datasets = tuple(TARGETS_2D)
    metric_names = ("v", "jsd", "jsd_d", "modes", "hq", "d_real", "d_fake")

    def __init__(self, cfg: TrainConfig, device: torch.device):
        super().__init__(cfg, device)
        self.target = make_target(cfg)
        self.metric_names = metric_columns(cfg.loss, self.target.modes is not None)
        self.units = self.target.units  # standardised → data units (None: the target is in its own units)
        # region: where G, D and the metrics work (standardised for a point set); extent: the same
        # square in the data's units, where the view draws it.
        x0, x1, y0, y1 = self.region = self.target.region
        self.extent = np.array(self.region, dtype=np.float64)
        if self.units is not None:
            (ex0, ey0), (ex1, ey1) = self.units.to_data(np.array([[x0, y0], [x1, y1]]))
            self.extent = np.array([ex0, ex1, ey0, ey1])
        self.edges_x = np.linspace(x0, x1, GRID + 1)
        self.edges_y = np.linspace(y0, y1, GRID + 1)
        self.cell_w = (x1 - x0) / GRID
        # p_data: exact cell probabilities, blurred like p_G will be, and the mass outside the grid.
        self.blur_cells = BLUR_SIGMAS * self.target.sigma / self.cell_w
        self._blur = blur_matrix(GRID, self.blur_cells)
        p_cells = cell_probabilities(self.target.centres, self.target.sigma, self.edges_x, self.edges_y)
        self.p_data_out = max(0.0, 1.0 - float(p_cells.sum()))
        self.p_data = blur(torch.from_numpy(p_cells), self._blur).numpy()  # (GRID, GRID), rows y, columns x
        target, edges_x, edges_y = self.target, self.edges_x, self.edges_y

        def cells(ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
            # the estimator's coarse cells are the plotted ones: their masses computed once, not twice
            # (a 10⁶-point file's KDE takes the training thread seconds per grid)
            if np.array_equal(ex, edges_x) and np.array_equal(ey, edges_y):
                return p_cells.copy()
            return cell_probabilities(target.centres, target.sigma, ex, ey)

        self.estimator = Estimator2D(cells, target.sigma, self.region, GRID)
        # V(G, D) on the cells P_data fills split as finely as V_POINTS evaluations of D allow (and the
        # rest of the grid), a coarsening of the estimator's cells: its bound never exceeds the JSD
        self.v_split = self.estimator.refine
        while self.v_split > 1 and len(self.estimator.data_cells) * self.v_split ** 2 > V_POINTS:
            self.v_split //= 2
        self._p_v, v_points = self.estimator.partition(self.v_split)
        self._v_points_t = torch.as_tensor(v_points if self.v_split > 1 else np.zeros((0, 2)),
                                           dtype=torch.float32, device=device)  # unsplit: the grid's own D
        self._v_rest = np.ones(GRID * GRID, dtype=bool)
        self._v_rest[self.estimator.data_cells] = False
        cx = 0.5 * (self.edges_x[1:] + self.edges_x[:-1])
        cy = 0.5 * (self.edges_y[1:] + self.edges_y[:-1])
        gx, gy = np.meshgrid(cx, cy)  # row-major: grid[i, j] = (x_j, y_i)
        self._grid_t = torch.as_tensor(np.column_stack((gx.ravel(), gy.ravel())), dtype=torch.float32, device=device)
        self._centres_t = torch.as_tensor(self.target.centres, dtype=torch.float32, device=device)
        self._origin_t = torch.tensor([x0, y0], dtype=torch.float32, device=device)
        self._real_scatter: Scatter | None = None
        self._centres_scatter = None if self.target.modes is None else Scatter(self.target.modes.copy())
        self._real_mean: torch.Tensor | None = None
        self._z_manifold = self._manifold_noise()
        self._axis_names = self.target.columns if self.target.columns != ("x1", "x2") else ("x₁", "x₂")
        self._view_growths: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per G (lanes share a task)

    def describe(self) -> str:
        return self.target.description

    def to_data(self, x: np.ndarray) -> np.ndarray:
        """Points of the task's coordinates (G's output, real samples) in the data's own units (float64)."""
        x = np.asarray(x, dtype=np.float64)
        return x if self.units is None else self.units.to_data(x)

    def to_task(self, x: np.ndarray) -> np.ndarray:
        """Points in the data's units in the task's coordinates (`ganviz measure` reads data units)."""
        x = np.asarray(x, dtype=np.float64)
        return x if self.units is None else self.units.to_standard(x)

    def sample_columns(self) -> tuple[str, ...]:
        """samples.csv's header: the data file's column names, else x1, x2."""
        return self.target.columns

    @torch.no_grad()
    def generated_samples(self, G, n: int, gen: torch.Generator) -> np.ndarray:
        """n samples of P_G in the data's units (float64), drawn in chunks."""
        parts = [self.to_data(G(self.sample_noise(min(65536, n - i), gen)).double().cpu().numpy())
                 for i in range(0, n, 65536)]
        return np.concatenate(parts) if parts else np.empty((0, 2))

    # --- models ---------------------------------------------------------------------------------
    def _to_data(self) -> Affine:
        x0, x1, y0, y1 = self.region
        return Affine((x1 - x0) / (2 * INTERNAL_HALF), (0.5 * (x0 + x1), 0.5 * (y0 + y1)))

    def _from_data(self) -> Affine:
        to = self._to_data()
        s = float(to.scale)
        return Affine(1.0 / s, tuple(float(-v / s) for v in to.shift))

    def build_generator(self):
        return nn.Sequential(Generator(self.cfg.noise_dim, 2, self.cfg.hidden, self.cfg.layers), self._to_data())

    def build_discriminator(self):
        return nn.Sequential(self._from_data(), Discriminator(2, self.cfg.hidden, self.cfg.layers))

    # --- sampling -------------------------------------------------------------------------------
    def sample_real(self, m, gen):
        eps = torch.randn(m, 2, generator=gen, device=self.device).mul_(self.target.sigma)
        if len(self._centres_t) == 1:
            return eps.add_(self._centres_t)
        idx = torch.randint(len(self._centres_t), (m,), generator=gen, device=self.device)
        return eps.add_(self._centres_t[idx])

    # --- measuring ------------------------------------------------------------------------------
    def density_of_samples(self, samples: torch.Tensor) -> np.ndarray:
        """P_G as the estimator's cell probabilities: the GRID² cells (rows y), then the outside cell."""
        return self.estimator.estimate(samples.double().cpu().numpy()).q

    def estimate_samples(self, samples: torch.Tensor) -> dict:
        """`ganviz measure`'s reading of a sample set: the window's estimator (any number of samples),
        mode coverage on COVERAGE_SAMPLES samples drawn without replacement (seed 0) and the HQ share
        of all samples."""
        arr = samples.double().cpu().numpy().reshape(-1, 2)
        r = self.estimator.estimate(arr)
        out = {"jsd": r.jsd, "kl": r.kl, "kl_rev": r.kl_rev}
        if self.target.modes is not None:
            pick = np.random.default_rng(0).permutation(len(arr))[:COVERAGE_SAMPLES]
            out["modes"] = mode_coverage(arr[pick], self.target.modes, self.target.sigma)[0]
            out["hq"] = mode_coverage(arr, self.target.modes, self.target.sigma)[1]
        out["settings"] = self.estimator.settings() | {
            "pilot_k": r.k, "outside_share": r.outside, "sigma": self.target.sigma,
            "coverage_samples": COVERAGE_SAMPLES, "hq_sigmas": HQ_SIGMAS}
        return out

    def jsd_of_samples(self, samples: torch.Tensor) -> float:
        return self.estimator.estimate(samples.double().cpu().numpy()).jsd

    def data_extent(self) -> float:
        x0, x1, y0, y1 = self.region
        return float(max(x1 - x0, y1 - y0))

    @torch.no_grad()
    def evaluate(self, G, D, gen, views=True, loss=None):
        loss = loss or self.cfg.loss
        fam = losses.family(loss)
        fake = G(self.sample_noise(EVAL_SAMPLES, gen))
        if not bool(torch.isfinite(fake).all()):
            return Evaluation({"v": math.nan})
        est = self.estimator.estimate(fake.double().cpu().numpy())
        p_data, p_g = est.p, est.q  # the GRID² cells and the outside cell; est.jsd on their refinement
        grid_and_v = D(torch.cat((self._grid_t, self._v_points_t)))
        logits, v_logits = grid_and_v[:GRID * GRID], grid_and_v[GRID * GRID:]
        # D outside the region: its mean on the border cells, the best guess without samples there.
        border = logits.reshape(GRID, GRID)
        out_logit = torch.cat((border[0], border[-1], border[1:-1, 0], border[1:-1, -1])).mean().reshape(1)
        all_logits = torch.cat((logits, out_logit)).double().cpu().numpy()
        split = v_logits.double().cpu().numpy() if self.v_split > 1 else all_logits[self.estimator.data_cells]
        cell_logits = np.concatenate((split, all_logits[:-1][self._v_rest], all_logits[-1:]))
        v = divergence.value_on_grid(self._p_v, self.estimator.partition(self.v_split, est.q_fine, p_g),
                                     -np.logaddexp(0.0, -cell_logits), -np.logaddexp(0.0, cell_logits), 1.0)
        jsd = est.jsd

        coverage = fake[:COVERAGE_SAMPLES]
        if self.target.modes is not None:
            covered, hq = mode_coverage(coverage.double().cpu().numpy(), self.target.modes, self.target.sigma)
        else:
            covered, hq = math.nan, math.nan
        if self._real_mean is None:
            self._real_mean = self.sample_real(D_MEAN_SAMPLES, gen)
            self._real_scatter = Scatter(self.to_data(self._real_mean[:SHOWN].double().cpu().numpy()))
        out_real, out_fake = D(self._real_mean), D(coverage)
        mean_d = (lambda o: float(torch.sigmoid(o).mean())) if fam == "vanilla" else (lambda o: float(o.mean()))
        metrics = {
            "v": v,
            "jsd": jsd,
            "jsd_d": divergence.jsd_lower_bound(v),
            "modes": float(covered),
            "hq": hq,
            "d_real": mean_d(out_real),
            "d_fake": mean_d(out_fake),
        }
        if fam == "lsgan":
            metrics["chi2"] = divergence.chi2(p_data, p_g, 1.0)
            metrics["chi2_d"] = divergence.lsgan_estimate(p_data, p_g, all_logits, 1.0)
        elif fam == "hinge":
            metrics["tv"] = divergence.tv(p_data, p_g, 1.0)
            metrics["tv_d"] = divergence.hinge_estimate(p_data, p_g, all_logits, 1.0)
        elif fam == "critic":  # a sliced W1 between equal samples; the critic's own estimate on the same
            n = len(self._real_mean)
            metrics["w1"] = divergence.sliced_w1(self._real_mean.double().cpu().numpy(),
                                                 fake[:n].double().cpu().numpy(), SLICES)
            metrics["w1_d"] = float(out_real.mean() - D(fake[:n]).mean())
        metrics = {name: metrics.get(name, math.nan) for name in metric_columns(loss, self.target.modes is not None)}
        if not views:
            return Evaluation(metrics)
        shown = fake[:SHOWN]
        shown_np = shown.double().cpu().numpy()
        extent = self.extent
        grown = self._view_region(G, shown_np)
        if grown is not None:  # the fakes left the region: D on a larger square, so it shows there too
            x0, x1, y0, y1 = grown
            c = (np.arange(GRID) + 0.5) / GRID
            gx, gy = np.meshgrid(x0 + c * (x1 - x0), y0 + c * (y1 - y0))
            logits = D(torch.as_tensor(np.column_stack((gx.ravel(), gy.ravel())), dtype=torch.float32,
                                       device=self.device))
            (ex0, ey0), (ex1, ey1) = self.to_data(np.array([[x0, y0], [x1, y1]]))
            extent = np.array([ex0, ex1, ey0, ey1])
        arrows = self.generator_gradient(D, shown[:ARROWS], loss or self.cfg.loss)
        if self.units is not None:  # everything shown in the data's own units
            shown_np, arrows = self.units.to_data(shown_np), self.units.vectors_to_data(arrows)
        field = torch.sigmoid(logits) if fam == "vanilla" else logits
        d_grid = np.ascontiguousarray(field.reshape(GRID, GRID).cpu().numpy(), dtype=np.float32)
        if fam == "vanilla":
            label, span = "D(x)", (0.0, 1.0)
        elif fam in ("lsgan", "hinge"):
            label, span = ("D(x), LSGAN codes −1 fake / +1 real" if fam == "lsgan" else "critic f(x), hinge"), (-1.0, 1.0)
        else:
            bound = float(np.abs(d_grid).max()) or 1.0
            label, span = "critic f(x)", (-bound, bound)
        return Evaluation(metrics, Picture2D(
            d=Field(d_grid, extent.copy()),
            real=self._real_scatter,
            fake=Scatter(shown_np),
            manifold=Polylines(self.to_data(self._manifold(G))),
            arrows=Arrows(shown_np[:ARROWS], arrows),
            # one object for the run, so a view can skip redrawing what does not change
            centres=self._centres_scatter,
            d_label=label,
            d_range=span,
            axis_names=self._axis_names,
            target_note=self.target.note,
        ))

    def _view_region(self, G, shown: np.ndarray) -> np.ndarray | None:
        """The square the D heatmap covers, in the task's coordinates: None for the region itself, or (when
        1% of the shown fakes lie outside it) the region grown by VIEW_GROWTH steps until it holds them. It shrinks back only when they are well
        inside a smaller square, so fakes on an edge do not make the view jump back and forth."""
        x0, x1, y0, y1 = self.region
        centre, half = np.array([0.5 * (x0 + x1), 0.5 * (y0 + y1)]), 0.5 * (x1 - x0)
        finite = shown[np.isfinite(shown).all(axis=1)]
        reach = float(np.quantile(np.abs(finite - centre).max(axis=1), 0.99)) / half if len(finite) else 0.0
        need = 0 if reach <= 1.0 else min(VIEW_MAX_GROWTHS, math.ceil(math.log(reach) / math.log(VIEW_GROWTH)))
        growths = self._view_growths.get(G, 0)
        if need > growths or 1.2 * reach <= VIEW_GROWTH ** need:
            growths = need
        self._view_growths[G] = growths
        if growths == 0:
            return None
        h = half * VIEW_GROWTH ** growths
        return np.array([centre[0] - h, centre[0] + h, centre[1] - h, centre[1] + h])

    # --- G against the exact D* (THEORY.md §7) ---------------------------------------------------
    @torch.no_grad()
    def d_star_grid(self, G) -> DStarGrid:
        """D* = p_data/(p_data + p_G) per cell of the metric grid, p_G from EVAL_SAMPLES samples of G on one
        fixed noise draw (the training stream untouched), estimated as density_of_samples does; outside
        the region, D* of the mass outside it."""
        if getattr(self, "_oracle_noise", None) is None:
            gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 4)
            self._oracle_noise = self.sample_noise(EVAL_SAMPLES, gen)
            self._p_data_t = torch.as_tensor(np.append(self.estimator.p_coarse.reshape(-1), self.estimator.p_out))
        d = d_star_cells(self._p_data_t, torch.as_tensor(self.density_of_samples(G(self._oracle_noise))))
        d = d.to(device=self.device, dtype=torch.float32)
        x0, x1, y0, y1 = self.region
        return DStarGrid(d[:-1].view(1, GRID, GRID), (x0, y0), (x1, y1), d[-1:])

    def generator_gradient(self, D: nn.Module, x: torch.Tensor, loss: str | None = None) -> np.ndarray:
        """−∇ₓ of the generator loss (cfg.loss) at each point: the direction D pushes each fake."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            per_sample = losses.g_loss(D(x), loss or self.cfg.loss) * len(x)
            (grad,) = torch.autograd.grad(per_sample, x)
        return (-grad).double().cpu().numpy()

    def _manifold_noise(self) -> torch.Tensor:
        """A regular grid in noise space: lines of constant z1 and of constant z2 at equal-mass
        quantiles of P_z (so each warped cell holds the same probability), or, for 1-D noise, the
        central 99% of the line. The other noise coordinates are 0."""
        dim = self.cfg.noise_dim

        def quantile(q: np.ndarray) -> np.ndarray:
            q = torch.as_tensor(q, dtype=torch.float64)
            z = 2 * q - 1 if self.cfg.noise == "uniform" else math.sqrt(2) * torch.erfinv(2 * q - 1)
            return z.numpy()

        if dim == 1:
            lo, hi = quantile(np.array([0.005, 0.995]))
            z = np.linspace(lo, hi, CURVE_POINTS)[:, None]
            return torch.as_tensor(z, dtype=torch.float32, device=self.device)
        levels = quantile(np.linspace(0.01, 0.99, MANIFOLD_LINES))
        along = np.linspace(levels[0], levels[-1], MANIFOLD_POINTS)
        z = np.zeros((2, MANIFOLD_LINES, MANIFOLD_POINTS, dim))
        z[0, :, :, 0], z[0, :, :, 1] = levels[:, None], along[None, :]   # constant z1
        z[1, :, :, 0], z[1, :, :, 1] = along[None, :], levels[:, None]   # constant z2
        return torch.as_tensor(z.reshape(-1, dim), dtype=torch.float32, device=self.device)

    def _manifold(self, G: nn.Module) -> np.ndarray:
        """G applied to the noise grid: (L, P, 2) polylines."""
        x = G(self._z_manifold).double().cpu().numpy()
        if self.cfg.noise_dim == 1:
            return x.reshape(1, CURVE_POINTS, 2)
        return x.reshape(2 * MANIFOLD_LINES, MANIFOLD_POINTS, 2)
