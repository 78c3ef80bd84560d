"""The divergence estimators (1-D, 2-D) the window, `ganviz train`, sweeps and `ganviz measure` share.

P_data's density is known exactly; P_G only by samples. The 1-D estimator (Estimator1D):

- p_G is a sample-point adaptive Gaussian KDE. Pilot: the sorted samples are cut into blocks of
  k = √n consecutive order statistics (n = 10⁴: 100, 10⁵: 316); a sample's pilot density is its
  block's (k/n)/width, a k-nearest-neighbour estimate. Its kernel σ is BANDWIDTH_FACTOR × its
  block's width, at most CAP × Silverman's rule for the whole sample (0.9·std·n^−⅕).
  So the bandwidth follows the samples: narrow where G is dense (a narrow mode, a spike), wide in
  sparse tails; no longer one bandwidth from the whole spread. Bandwidths are rounded to steps of
  √2; each level is binned on the quadrature cells and convolved by FFT.
- p_data is exact: its log-density at the midpoints of QUAD_CELLS cells over QUAD_RANGE = [−24, 24]
  (cell 0.0117, half a plotted cell; every 1-D target has < 10⁻⁴ of its mass outside).
- G's mass beyond QUAD_RANGE (non-finite samples included) is one more cell where p_data = 0:
  nothing is dropped outside the plotted range.
- JSD, KL(P_data‖P_G) and KL(P_G‖P_data) are sums over the cells; KL(P_G‖P_data) adds, for samples
  beyond QUAD_RANGE, log(pilot density / p_data) at those samples (exact log p_data).

Noise floor (exact samples of P_data; worst of the 5 targets × 4 seeds): JSD ≤ 0.0016 nats with 10⁴
samples (heavytail; the others ≤ 0.0012), ≤ 0.0007 with 10⁵ (tests/test_estimator.py, tests/test_toy1d.py). Bias: the kernels
smooth P_G by about BANDWIDTH_FACTOR·k/(n·p_G), a few % of a mode's width, so JSD and
KL(P_G‖P_data) read within ~2% on 10⁵ samples of known distributions (narrow, wide, shifted,
dropped modes, half the mass far away). KL(P_data‖P_G) cannot be read where P_G has no samples:
where G misses part of P_data (dropped or much narrower modes, a large shift) the KDE's tails stand
in for P_G's and KL(P_data‖P_G) is wrong there (large, finite: q ≥ 10⁻¹²); it reads within a few %
when P_G covers P_data (JSD and KL(P_G‖P_data) are never infinite from the smoothing: where p_data
is exactly 0, as left of a lognormal's edge, it counts as 10⁻¹²). Resolution: one quadrature cell, so a Dirac at a mode of N(2, 0.5²) reads
log 2 − 0.027 rather than log 2. Cost with 10⁴ samples: 0.9 ms (the grid estimator it replaced: 0.25 ms; 1-D evaluate 1.6 → 2.7 ms,
minimum of many runs on the shared 2-core machine).

The 2-D estimator (Estimator2D) is described where it is defined below: exact p_data cell probabilities
against an adaptive KDE of P_G on the 128² grid refined where P_data has mass, KL(P_data‖P_G) on a
coarsening that follows G's samples, and the KDE's variance bias subtracted by the delta method; its
noise floor, bias and cost are stated there and in the README.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

QUAD_RANGE = (-24.0, 24.0)
QUAD_CELLS = 4096
MIN_BLOCK = 8
KL_FLOOR = 1e-12
LOG_FLOOR = math.log(KL_FLOOR)  # only where a log-density is -inf (outside a support)
LOG2 = math.log(2.0)


BANDWIDTH_FACTOR = 3.0   # a sample's kernel σ: this many times the width of its pilot block ...
CAP = 0.4                # ... and at most this fraction of Silverman's global bandwidth (tails)
MIN_H_CELLS = 0.5        # kernels narrower than ~a third of a quadrature cell: binned as is
LEVELS_PER_OCTAVE = 2    # bandwidths are rounded to steps of √2 and convolved level by level


def pilot_size(n: int) -> int:
    """Samples per pilot block: √n (n = 10⁴: 100; 10⁵: 316)."""
    return max(MIN_BLOCK, int(round(math.sqrt(n))))


def silverman_cap(x_sorted: np.ndarray) -> float:
    """CAP × Silverman's rule with the sample's standard deviation, 0.9·std·n^(−1/5). (The std, not
    min(std, IQR/1.34): the cap only binds in sparse tails, and heavy tails need the wider one.)"""
    return CAP * 0.9 * float(x_sorted.std()) * len(x_sorted) ** -0.2


def block_cdf(samples: np.ndarray, k: int | None = None, presorted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(edges, F): the block estimator's CDF, linear between the edges (finite samples)."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    x = x if presorted else np.sort(x)
    n = len(x)
    if n < 2:
        raise ValueError("the estimator needs at least 2 finite samples")
    k = pilot_size(n) if k is None else max(1, min(int(k), n - 1))
    idx = np.arange(0, n, k)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return x[idx], idx / (n - 1)


def cdf_at(points: np.ndarray, edges: np.ndarray, F: np.ndarray) -> np.ndarray:
    """The block CDF at `points` (0 left of the first sample, 1 right of the last; a run of equal
    edges is a jump, i.e. a Dirac, taken whole at that point)."""
    return np.interp(points, edges, F, left=0.0, right=1.0)


def density_at(points: np.ndarray, edges: np.ndarray, F: np.ndarray) -> np.ndarray:
    """The block density at `points` (inf on a zero-width block, 0 outside the samples)."""
    j = np.clip(np.searchsorted(edges, points, side="right") - 1, 0, len(edges) - 2)
    out = np.zeros(len(points))
    inside = (points >= edges[0]) & (points <= edges[-1])
    jj = j[inside]
    width = edges[jj + 1] - edges[jj]
    mass = F[jj + 1] - F[jj]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[inside] = np.where(width > 0, mass / np.where(width > 0, width, 1.0), np.inf)
    return out


@dataclass(frozen=True)
class Estimate:
    jsd: float
    kl: float       # KL(P_data ‖ P_G)
    kl_rev: float   # KL(P_G ‖ P_data)
    outside: float  # P_G's mass beyond QUAD_RANGE
    k: int          # samples per pilot block
    n: int
    q: np.ndarray | None = None  # p_G on the quadrature cells (density)


class Estimator1D:
    """The estimator for one target, given its exact log-density (vectorised over float64 arrays)."""

    def __init__(self, log_pdf: Callable[[np.ndarray], np.ndarray]):
        self.log_pdf = log_pdf
        lo, hi = QUAD_RANGE
        self.edges = np.linspace(lo, hi, QUAD_CELLS + 1)
        self.cell = (hi - lo) / QUAD_CELLS
        mid = 0.5 * (self.edges[1:] + self.edges[:-1])
        self.log_p = np.asarray(log_pdf(mid), dtype=np.float64)
        self.p = np.exp(self.log_p)
        self.log_p_floored = np.where(np.isfinite(self.log_p), self.log_p, LOG_FLOOR)

    def settings(self) -> dict:
        return {"estimator": "adaptive Gaussian KDE of P_G (kernel sigma = bandwidth_factor x the width of the "
                             "sample's block of sqrt(n) order statistics, at most cap x Silverman), exact log "
                             "p_data, quadrature on cells; mass beyond quad_range counted",
                "bandwidth_factor": BANDWIDTH_FACTOR, "cap": CAP, "quad_range": list(QUAD_RANGE),
                "quad_cells": QUAD_CELLS}

    def quad_density(self, x: np.ndarray, k: int | None = None) -> tuple[np.ndarray, float]:
        """(q, q_out): the adaptive KDE of finite samples `x` on the quadrature cells (density) and the
        share of the samples beyond QUAD_RANGE."""
        x = np.sort(x)
        n = len(x)
        kk = pilot_size(n) if k is None else k
        edges, F = block_cdf(x, kk, presorted=True)  # x sorted: sample i lies in block i // kk
        j = np.minimum(np.arange(n) // kk, len(edges) - 2)
        width = edges[1:] - edges[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            pilot = (np.diff(F) / width)[j]
        lo, hi = QUAD_RANGE
        with np.errstate(divide="ignore"):
            h = np.minimum(BANDWIDTH_FACTOR * (kk / n) / pilot, silverman_cap(x))
        h_cells = np.clip(np.nan_to_num(h / self.cell, nan=1.0, posinf=1.0), 0.0, QUAD_CELLS)
        # level 0: narrower than MIN_H_CELLS/√2, binned as is (a Dirac stays in its cell); level j ≥ 1:
        # σ = MIN_H_CELLS·√2^(j−1)
        with np.errstate(divide="ignore"):
            steps = np.rint(np.log2(np.maximum(h_cells, 1e-9) / MIN_H_CELLS) * LEVELS_PER_OCTAVE)
        level = (np.clip(steps, -1, None) + 1).astype(np.int64)
        pos = np.floor((x - lo) / self.cell).astype(np.int64)
        inside = (pos >= 0) & (pos < QUAD_CELLS)
        q_out = float(np.count_nonzero(~inside)) / n
        present = np.bincount(level[inside])
        levels = np.flatnonzero(present)
        which = (np.cumsum(present > 0) - 1)[level[inside]]
        counts = np.bincount(which * QUAD_CELLS + pos[inside],
                             minlength=len(levels) * QUAD_CELLS).astype(np.float64).reshape(len(levels), QUAD_CELLS)
        size = 2 * QUAD_CELLS
        freq = np.fft.rfftfreq(size)
        sig = np.where(levels > 0, MIN_H_CELLS * 2.0 ** ((levels - 1) / LEVELS_PER_OCTAVE), 0.0)
        kernel_ft = np.exp(-2.0 * (np.pi * freq[None, :] * sig[:, None]) ** 2)
        spec = np.fft.rfft(counts, n=size, axis=1) * kernel_ft
        q_cells = np.fft.irfft(spec.sum(axis=0), n=size)[:QUAD_CELLS]  # linear conv (padded); wrap lost
        q_cells[q_cells < 1e-9 * q_cells.max()] = 0.0  # FFT round-off, not mass
        # mass the kernels carried past the ends of the grid counts as outside
        inside_mass = float(q_cells.sum())
        total_in = float(np.count_nonzero(inside))
        if inside_mass > 0:
            q_out += max(total_in - inside_mass, 0.0) / n
            q_cells *= min(1.0, total_in / inside_mass)
        return q_cells / (n * self.cell), q_out

    def estimate(self, samples: np.ndarray, k: int | None = None) -> Estimate:
        """JSD, KL and reverse KL (nats) between P_data and the samples' P_G (non-finite samples count
        as mass at infinity: beyond QUAD_RANGE, where p_data = 0)."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        n_all = len(x)
        finite = np.isfinite(x)
        x = x[finite]
        if len(x) < 2:
            return Estimate(LOG2, math.inf, math.inf, 1.0, 0, n_all, np.zeros(QUAD_CELLS))
        share = len(x) / n_all
        q, q_out = self.quad_density(x, k)
        q = q * share
        q_out = q_out * share + (1.0 - share)
        lo, hi = QUAD_RANGE
        far = (x < lo) | (x > hi)
        q_mass = q * self.cell
        p_mass = self.p * self.cell
        m = 0.5 * (self.p + q)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_m = np.log(m)
            log_q = np.log(q)
            t_p = np.where(p_mass > 0, p_mass * (self.log_p - log_m), 0.0)
            t_q = np.where(q_mass > 0, q_mass * (log_q - log_m), 0.0)
            jsd = 0.5 * (t_p.sum() + t_q.sum()) + 0.5 * LOG2 * q_out
            kl = float(np.where(p_mass > 0, p_mass * (self.log_p - np.log(np.maximum(q, KL_FLOOR))), 0.0).sum())
            # where p_data is exactly 0 (a lognormal's edge) the kernels' spill is taken against
            # p = KL_FLOOR rather than read as an infinite KL
            kl_rev = float(np.where(q_mass > 0, q_mass * (log_q - self.log_p_floored), 0.0).sum())
        if far.any():  # beyond the grid: log p_data at those samples, p_G there as the pilot's
            edges, F = block_cdf(x, pilot_size(len(x)) if k is None else k)
            dens = density_at(x[far], edges, F) * share
            with np.errstate(divide="ignore"):
                lp = self.log_pdf(x[far])
                kl_rev += float((np.log(dens) - np.where(np.isfinite(lp), lp, LOG_FLOOR)).sum()) / n_all
        if share < 1.0:
            kl_rev = math.inf
        jsd = float(min(max(jsd, 0.0), LOG2))
        return Estimate(jsd, max(kl, 0.0), max(kl_rev, 0.0), q_out, pilot_size(len(x)) if k is None else k, n_all, q)

    def on_grid(self, q: np.ndarray, lo: float, hi: float, cells: int) -> np.ndarray:
        """A quadrature-cell density averaged onto a coarser grid whose edges are quadrature edges."""
        first = (lo - QUAD_RANGE[0]) / self.cell
        per = (hi - lo) / cells / self.cell
        i0, m = int(round(first)), int(round(per))
        if abs(first - i0) > 1e-6 or abs(per - m) > 1e-6 or m < 1:
            raise ValueError("the grid's edges must be quadrature edges")
        return q[i0:i0 + m * cells].reshape(cells, m).mean(axis=1)


def mixture_log_pdf(weights: np.ndarray, components) -> Callable[[np.ndarray], np.ndarray]:
    """log Σ w_i p_i(x), computed stably (no underflow far from the modes)."""
    logw = np.log(np.asarray(weights, dtype=np.float64))

    def log_pdf(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        terms = np.stack([lw + c.log_prob(x) for lw, c in zip(logw, components)])
        top = terms.max(axis=0)
        safe = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            return np.where(np.isfinite(top), safe + np.log(np.exp(terms - safe).sum(axis=0)), -np.inf)

    return log_pdf


# --- 2-D ------------------------------------------------------------------------------------------
# Estimator2D, the same code for the window's 10⁴ samples and `ganviz measure`'s 10⁵ (only k and the KL
# partition's count depend on n):
# - Cells: the GRID_2D² coarse grid over the target's square region (the window's D grid), each coarse
#   cell where P_data has more than DATA_FLOOR of its mass split into r × r fine cells, r a power of 2
#   with the fine cell ≈ σ/FINE_PER_SIGMA (ring8 8, grid25 4, moons and spiral 2, gaussian 1), and one
#   cell for everything outside the region (non-finite samples too). p_data: exact cell probabilities.
# - p_G: a sample-point adaptive Gaussian KDE (Abramson's, with sensitivity ALPHA_2D). Pilot: the smallest
#   quadtree cell (2^l × 2^l fine cells) around a sample that holds k = n^0.35 samples gives its density
#   f_i, and r_i the radius of a disc holding k samples at that density; the kernel σ is BANDWIDTH_2D ×
#   r̄·(r_i/r̄)^(2·ALPHA_2D), r̄ the geometric mean of the r_i (σ ∝ f_i^(−0.15); Abramson's ½ blurred the
#   sparse tails of a mode over several σ, the floor's main bias), at most CAP_2D × std·n^(−1/6), rounded
#   to steps of √2. Each level is binned on the coarsest grid of 2^m fine cells whose cell is at most 2σ,
#   spread by its Gaussian out to 3σ less the binning's g²/12 (the coarse grid: B_y H B_xᵀ by torch), and
#   interpolated bilinearly onto the fine cells; mass carried beyond the grid counts as outside.
# - JSD and KL(P_G‖P_data) by summing over the cells (a cell probability of 0 counts as KL_FLOOR inside a
#   log). KL(P_data‖P_G) sums over a coarsening that follows G's samples (_kl_adaptive): a quadtree from
#   blocks of 2^KL_TOP coarse cells down to the fine cells, split while the quarters hold 0.1·√n samples
#   (10 with 10⁴, 32 with 10⁵). On the fine cells the noise of q̂ in P_data's sparse tails read it ~0.02
#   high with 10⁵ (E log q̂ < log q); merging cells can only lower a KL, and only happens where G has few
#   samples. The coarse cells' p and q (Estimate2D.p, .q) are their fine cells' sums, so V(G, D) on the
#   coarse cells never exceeds the JSD (a coarsening's JSD is at most the finer one's).
# - The KDE's variance bias is subtracted from all three by the delta method (_variance_corrected): a sum
#   Σ_c f(q̂_c) over cells reads ½ Σ_c f''(q_c) Var(q̂_c) high, Var(q̂_c) ≈ (Σ_i w_ic² − n q_c²)/n² from the
#   kernels' cell masses w_ic, counted only where Var/q² ≤ MAX_REL_VAR (a cell holding ≥ 4 samples' worth).
# Noise floor (exact samples; worst of 5 seeds with 10⁴, of 3 with 10⁵; before this rule 10⁴: 0.011, 0.024,
# 0.012, 0.017, 0.007): JSD with 10⁴ ring8 0.0066, grid25 0.0067, moons 0.0057, spiral 0.0059, gaussian
# 0.0040; with 10⁵ 0.0026, 0.0027, 0.0020, 0.0015, 0.0021. KL(P‖Q) ≤ 0.0071 with 10⁴, ≤ 0.0022 with 10⁵;
# KL(Q‖P) ≤ 0.033 and ≤ 0.011. Bias with 10⁵ samples (tests/test_estimator.py): JSD within max(0.003, 3%)
# on every case (modes half as wide 0.171, 0.169 for 0.174), KL(P_data‖P_G) within 5% where G covers P_data (10% of
# G just outside the plot 0.106–0.108 for 0.105; G twice as wide 0.610–0.629 for 0.638, the partition's
# coarsening). With the window's 10⁴: JSD within max(0.01, 8%) but for grid25 twice as wide (0.186–0.189
# for 0.174; grid25 half as wide 0.164–0.167, before 0.135–0.138), KL(P_data‖P_G) within max(0.01, 10%)
# but for grid25 twice as wide (0.567–0.584 for 0.638). KL(P_data‖P_G) cannot be read where G misses part of P_data
# (dropped or much narrower modes, a large shift): the KDE's tails stand in for P_G's and it reads large
# but finite (5 of 8 modes 9.2 for ~2·10³). Cost (CPU time, minimum of runs, one thread, the shared
# 2-core machine): 5.5–8.8 ms for 10⁴ samples (the rule before: 3.6–7.9 ms), 32–55 ms for 10⁵ (22–29 ms).
GRID_2D = 128            # coarse cells a side: the window's D grid, V(G, D) and the cells no sample refines
FINE_PER_SIGMA = 3       # fine cells per target σ where P_data has mass (at most MAX_REFINE a coarse side)
MAX_REFINE = 16
BANDWIDTH_2D = 0.55      # a sample's kernel σ: this many times the geometric mean pilot radius ...
CAP_2D = 0.4             # ... and at most this fraction of the 2-D Silverman bandwidth std·n^(−1/6)
ALPHA_2D = 0.15          # ... times (pilot density / its geometric mean)^(−ALPHA_2D) (Abramson: ½)
MAX_REL_VAR = 0.25       # the variance correction counts cells with Var(q̂_c)/q_c² ≤ this (≥ 4 samples' worth)
KL_LEAF_FACTOR = 0.1     # KL(P‖Q)'s partition: a cell is split while its quarters hold KL_LEAF_FACTOR·√n samples ...
KL_TOP = 4               # ... from blocks of 2^KL_TOP coarse cells (n = 10⁴: 10 samples; 10⁵: 32)
PILOT_EXPONENT = 0.35    # the pilot radius holds k = n^0.35 samples (n = 10⁴: 25; 10⁵: 56)
MIN_PILOT = 8
STAMP_SIGMAS = 3.0       # narrow kernels are stamped on the fine cells out to 3σ (mass renormalised)
DATA_FLOOR = 1e-12      # coarse cells where P_data has more mass than this are refined


def pilot_size_2d(n: int) -> int:
    return max(MIN_PILOT, int(round(n ** PILOT_EXPONENT)))


def kl_leaf_count(n: int) -> int:
    """Samples a cell of KL(P_data‖P_G)'s partition holds at least (on average over its quarters' split):
    KL_LEAF_FACTOR·√n. Fewer samples need smaller cells to resolve a mode; more afford quieter ones."""
    return max(4, int(round(KL_LEAF_FACTOR * math.sqrt(n))))


def _cell_gaussian(sigma: float, half: int, normalise: bool = True) -> np.ndarray:
    """The mass of N(0, σ²) (σ in cells) in the cells −half..half around a cell's centre, summing to 1
    when `normalise` (a point mass for σ = 0)."""
    if sigma <= 0:
        w = np.zeros(2 * half + 1)
        w[half] = 1.0
        return w
    edges = (np.arange(-half, half + 2) - 0.5) / (sigma * math.sqrt(2.0))
    w = np.diff(0.5 * np.array([math.erf(e) for e in edges]))
    return w / w.sum() if normalise else w


def _morton(iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Interleaved bits of two non-negative 16-bit cell indices: cells of 2^l × 2^l fine cells are runs
    of equal code >> 2l once sorted."""
    def spread(v):
        v = v.astype(np.uint64) & np.uint64(0xFFFF)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v
    return spread(iy) << np.uint64(1) | spread(ix)


@dataclass(frozen=True)
class Estimate2D:
    jsd: float
    kl: float        # KL(P_data ‖ P_G)
    kl_rev: float    # KL(P_G ‖ P_data)
    outside: float   # P_G's mass outside the region (samples, non-finite ones, kernels' spill)
    k: int           # samples per pilot disc
    n: int
    p: np.ndarray    # P_data's coarse cell probabilities, GRID_2D² (rows y) + the outside cell
    q: np.ndarray    # P_G's, the same cells
    q_fine: np.ndarray  # P_G's probabilities of the data cells' fine cells (Estimator2D.data_cells, r² each)


class Estimator2D:
    """The 2-D estimator for one target, given a function that returns its exact cell probabilities
    on a grid (cell_mass(edges_x, edges_y) → (rows y, columns x)), its σ and its region."""

    def __init__(self, cell_mass: Callable[[np.ndarray, np.ndarray], np.ndarray], sigma: float,
                 region: tuple[float, float, float, float], grid: int = GRID_2D):
        x0, x1, y0, y1 = (float(v) for v in region)
        self.region, self.grid = (x0, x1, y0, y1), grid
        self.cell = np.array([(x1 - x0) / grid, (y1 - y0) / grid])          # coarse cell (x, y)
        ratio = float(self.cell.max()) * FINE_PER_SIGMA / sigma if sigma > 0 else math.inf
        # fine cells: a power of 2 a coarse side, σ/FINE_PER_SIGMA rounded in log (σ/2.1 … σ/4.2)
        self.depth = M = int(min(math.log2(MAX_REFINE), max(0, round(math.log2(ratio))))) if math.isfinite(ratio) \
            else int(math.log2(MAX_REFINE))
        self.refine = r = 2 ** M
        self.fine = self.cell / r
        C, F = grid, grid * r
        self.sigma0 = 0.5 * float(self.fine.min())  # the narrowest kernel level; narrower: binned as is
        p = np.asarray(cell_mass(np.linspace(x0, x1, C + 1), np.linspace(y0, y1, C + 1)), dtype=np.float64)
        p_coarse = np.clip(p.reshape(-1), 0.0, None)
        self.data_cells = D = np.flatnonzero(p_coarse > DATA_FLOOR)  # refined: where P_data has mass
        dy, dx = D // C, D % C
        if r > 1:  # exact fine probabilities (one call: the x and y factors are shared by every cell)
            fine = np.asarray(cell_mass(np.linspace(x0, x1, F + 1), np.linspace(y0, y1, F + 1)), dtype=np.float64)
            fine = np.clip(fine.reshape(C, r, C, r).transpose(0, 2, 1, 3).reshape(C * C, r * r)[D], 0.0, None)
            p_coarse[D] = fine.sum(axis=1)  # the coarse cells are exactly the sums of their fine cells
            self.p_fine = fine
        else:
            self.p_fine = p_coarse[D][:, None].copy()
        self.p_coarse = p_coarse
        self.p_out = max(0.0, 1.0 - float(p_coarse.sum()))
        self._data_slot = np.full(C * C, -1, dtype=np.int64)
        self._data_slot[D] = np.arange(len(D))
        self._rest = np.ones(C * C, dtype=bool)
        self._rest[D] = False
        self._rest_slot = np.full(C * C, -1, dtype=np.int64)
        self._rest_slot[self._rest] = len(D) * r * r + np.arange(int(self._rest.sum()))
        self._omegas: dict[tuple[int, int], float] = {}
        # P_data on the estimator's cells (the data cells' fine cells, the other coarse cells, outside)
        self._p_all = np.concatenate((self.p_fine.reshape(-1), p_coarse[self._rest], [self.p_out]))
        with np.errstate(divide="ignore"):
            self._log_p = np.log(self._p_all)
        self._log_p_floored = np.log(np.maximum(self._p_all, KL_FLOOR))
        # the data cells' fine cells: row and column on the fine grid
        sub = np.arange(r)
        self._fy = (dy[:, None, None] * r + sub[None, :, None] + 0 * sub[None, None, :]).reshape(len(D), -1)
        self._fx = (dx[:, None, None] * r + sub[None, None, :] + 0 * sub[None, :, None]).reshape(len(D), -1)
        self._interp = [self._bilinear(m) for m in range(M + 1)]
        self._blur: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._stamps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _bilinear(self, m: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Gather indices into the level-m grid (cells of 2^m fine cells; beyond its edge, the edge cell)
        and weights that interpolate it bilinearly at the data cells' fine-cell centres."""
        if m == 0:
            return None
        size = 2 ** m
        side = self.grid * self.refine // size
        parts = []
        for f in (self._fy, self._fx):
            u = (f + 0.5) / size - 0.5
            lo = np.floor(u).astype(np.int64)
            parts.append((lo, u - lo))
        (ly, ty), (lx, tx) = parts
        idx = np.stack([np.clip(ly + a, 0, side - 1) * side + np.clip(lx + b, 0, side - 1)
                        for a in (0, 1) for b in (0, 1)], axis=-1)
        w = np.stack([(ty if a else 1 - ty) * (tx if b else 1 - tx) for a in (0, 1) for b in (0, 1)], axis=-1)
        return idx, w

    def settings(self) -> dict:
        return {"estimator": "exact p_data cell probabilities vs a sample-point adaptive Gaussian KDE of P_G "
                             "(kernel sigma = bandwidth x the geometric mean radius of a disc of k = n^0.35 samples "
                             "under a quadtree pilot x (pilot density / its geometric mean)^-alpha, at most cap x "
                             "std n^-1/6), on the coarse grid, refined to fine cells where p_data has mass; outside "
                             "the region as one cell; KL(P_data||P_G) on a quadtree of those cells split while "
                             "their quarters hold kl_leaf_factor x sqrt(n) samples; the KDE's variance bias "
                             "subtracted by the delta method (cells of >= 1/max_rel_var samples)",
                "grid": self.grid, "refine": self.refine, "cell": self.cell.tolist(), "fine_cell": self.fine.tolist(),
                "bandwidth": BANDWIDTH_2D, "cap": CAP_2D, "pilot_exponent": PILOT_EXPONENT, "alpha": ALPHA_2D,
                "kl_leaf_factor": KL_LEAF_FACTOR, "kl_top": KL_TOP, "max_rel_var": MAX_REL_VAR,
                "region": list(self.region)}

    def level_sigma(self, level: int) -> float:
        return 0.0 if level == 0 else self.sigma0 * 2.0 ** ((level - 1) / LEVELS_PER_OCTAVE)

    def _pilot_radius(self, iy: np.ndarray, ix: np.ndarray, k: int) -> np.ndarray:
        """Each sample's pilot radius (data units): the disc that holds k samples at the density of the
        smallest quadtree cell (2^l × 2^l fine cells) around it that holds at least k samples."""
        n = len(iy)
        code = _morton(iy, ix)
        order = np.argsort(code)
        code = code[order]
        r2 = np.full(n, np.nan)
        area0 = float(self.fine[0] * self.fine[1])
        levels = int(math.ceil(math.log2(self.grid * self.refine))) + 1
        for lv in range(levels):
            key = code >> np.uint64(2 * lv)
            starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            counts = np.diff(np.r_[starts, n])
            per = np.repeat(counts, counts)
            pick = np.isnan(r2) & ((per >= k) | (lv == levels - 1))
            r2[pick] = k * area0 * 4.0 ** lv / (math.pi * per[pick])
            if not np.isnan(r2).any():
                break
        out = np.empty(n)
        out[order] = np.sqrt(r2)
        return out

    def _coarse_blur(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B_y, B_x): the masses of the level's Gaussian (less the binning's c²/12), centred on each coarse
        cell's centre, in every coarse cell (column → rows); mass beyond the grid is not kept."""
        if level not in self._blur:
            C = self.grid
            idx = np.arange(C)
            mats = []
            for axis in (1, 0):
                s = math.sqrt(max(self.level_sigma(level) ** 2 - self.cell[axis] ** 2 / 12, 0.0)) / self.cell[axis]
                w = _cell_gaussian(s, C - 1, normalise=False)
                mats.append(torch.from_numpy(w[idx[:, None] - idx[None, :] + C - 1]))
            self._blur[level] = (mats[0], mats[1])
        return self._blur[level]

    def _stamp(self, lv: int, m: int, cy: np.ndarray, cx: np.ndarray, c: np.ndarray):
        """Counts c in cells (cy, cx) of the level-m grid spread by the level's Gaussian (less the binning's
        g²/12), out to STAMP_SIGMAS: (rows, columns, masses) of the cells inside that grid."""
        side = self.grid * self.refine // 2 ** m
        if (lv, m) not in self._stamps:
            g = self.fine * 2 ** m
            s = self.level_sigma(lv)
            sy = math.sqrt(max(s * s - g[1] ** 2 / 12, 0.0)) / g[1]
            sx = math.sqrt(max(s * s - g[0] ** 2 / 12, 0.0)) / g[0]
            self._stamps[lv, m] = (_cell_gaussian(sy, int(math.ceil(STAMP_SIGMAS * sy))),
                                   _cell_gaussian(sx, int(math.ceil(STAMP_SIGMAS * sx))))
        wy, wx = self._stamps[lv, m]
        hy, hx = len(wy) // 2, len(wx) // 2
        shape = (len(cy), 2 * hy + 1, 2 * hx + 1)
        ty = np.broadcast_to(cy[:, None, None] + np.arange(-hy, hy + 1)[None, :, None], shape)
        tx = np.broadcast_to(cx[:, None, None] + np.arange(-hx, hx + 1)[None, None, :], shape)
        w = c[:, None, None] * wy[None, :, None] * wx[None, None, :]
        ok = (ty >= 0) & (ty < side) & (tx >= 0) & (tx < side)
        return ty[ok], tx[ok], w[ok]

    def estimate(self, samples: np.ndarray) -> Estimate2D:
        """JSD, KL and reverse KL (nats) between P_data and the samples' P_G, and both as coarse cell
        probabilities (non-finite samples count as mass outside the region)."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
        n = len(x)
        C, r, M = self.grid, self.refine, self.depth
        F = C * r
        x0, _, y0, _ = self.region
        k = pilot_size_2d(n)
        finite = np.isfinite(x).all(axis=1)
        with np.errstate(invalid="ignore"):
            fx = np.floor((x[:, 0] - x0) / self.fine[0])
            fy = np.floor((x[:, 1] - y0) / self.fine[1])
            inside = finite & (fx >= 0) & (fx < F) & (fy >= 0) & (fy < F)
        ix, iy = fx[inside].astype(np.int64), fy[inside].astype(np.int64)
        n_in = len(ix)
        q_coarse = np.zeros(C * C)        # P_G's mass (in samples) per coarse cell
        q_fine = np.zeros(self.p_fine.shape)  # ... and per fine cell of the data cells
        if n_in:
            xf = x[finite]
            spread = float(np.sqrt(0.5 * xf.var(axis=0).sum())) if len(xf) > 1 else 0.0
            # Abramson's adaptive KDE with sensitivity ALPHA_2D: radius ∝ pilot density^(−½), so the
            # kernels follow density^(−ALPHA_2D) about the geometric mean; ½ (the radius itself) blurred
            # the sparse tails of a mode over several σ (the floor's bias: grid25 0.024 with 10⁴)
            radius = self._pilot_radius(iy, ix, k)
            ref = float(np.exp(np.log(radius).mean()))
            h = BANDWIDTH_2D * ref * (radius / ref) ** (2 * ALPHA_2D)
            cap = CAP_2D * spread * n ** (-1 / 6)
            if cap > 0:
                h = np.minimum(h, cap)
            with np.errstate(divide="ignore"):
                steps = np.rint(np.log2(np.maximum(h, 1e-300) / self.sigma0) * LEVELS_PER_OCTAVE)
            level = (np.clip(steps, -1, 80) + 1).astype(np.int64)
            # each level on the coarsest grid (cells of 2^m fine cells) whose cell is at most 2σ
            sig = np.array([self.level_sigma(lv) for lv in range(int(level.max()) + 1)])
            res = np.clip(np.floor(np.log2(np.maximum(sig, 1e-300) / (0.5 * float(self.fine.max())))), 0, M)
            res = res.astype(np.int64)[level]
            for m in range(M + 1):
                at = res == m
                if not at.any():
                    continue
                side = F // 2 ** m
                key, cnt = np.unique((level[at] * side + (iy[at] >> m)) * side + (ix[at] >> m), return_counts=True)
                lvs, cell = key // (side * side), key % (side * side)
                if m == M:  # coarse: each level blurred as B_y H B_xᵀ
                    present, slot = np.unique(lvs, return_inverse=True)
                    hist = np.bincount(slot * (C * C) + cell, weights=cnt.astype(np.float64),
                                       minlength=len(present) * C * C).reshape(-1, C, C)
                    by = torch.stack([self._coarse_blur(lv)[0] for lv in present.tolist()])
                    bx = torch.stack([self._coarse_blur(lv)[1] for lv in present.tolist()])
                    field = (by @ torch.from_numpy(hist) @ bx.transpose(1, 2)).sum(dim=0).numpy()
                else:
                    parts = [self._stamp(lv, m, cell[lvs == lv] // side, cell[lvs == lv] % side,
                                         cnt[lvs == lv].astype(np.float64)) for lv in np.unique(lvs).tolist()]
                    ty, tx, w = (np.concatenate(a) for a in zip(*parts))
                    if m == 0:  # fine cells: the data cells' own, the rest summed per coarse cell
                        cid = (ty // r) * C + tx // r
                        q_coarse += np.bincount(cid, weights=w, minlength=C * C)
                        ds = self._data_slot[cid]
                        keep = ds >= 0
                        q_fine += np.bincount(ds[keep] * (r * r) + (ty[keep] % r) * r + tx[keep] % r,
                                              weights=w[keep], minlength=q_fine.size).reshape(q_fine.shape)
                        continue
                    field = np.bincount(ty * side + tx, weights=w, minlength=side * side).reshape(side, side)
                self._add_field(field, m, q_coarse, q_fine)
        lost = max(float(n_in) - float(q_coarse.sum()), 0.0)  # kernels' mass beyond the grid
        q_out = (n - n_in + lost) / n if n else 1.0  # no samples at all: as far away as can be
        q_coarse /= max(n, 1)
        q_fine /= max(n, 1)
        q_all = np.concatenate((q_fine.reshape(-1), q_coarse[self._rest], [q_out]))
        jsd, kl, kl_rev = self._divergences(q_all)
        if n_in:
            jsd, kl, kl_rev = self._variance_corrected(q_all, n, iy, ix, level, jsd, kl, kl_rev)
        if n_in:  # KL(P_data‖P_G) on the partition that follows G's samples, not on the fine cells
            tot = float(q_all.sum())
            kl = self._kl_adaptive(q_fine / tot, q_coarse / tot, q_out / tot, n, iy, ix, level)
        return Estimate2D(jsd, kl, kl_rev, float(q_out), k, n, np.append(self.p_coarse, self.p_out),
                          np.append(q_coarse, q_out), q_fine)

    def partition(self, per_side: int, q_fine: np.ndarray | None = None, q: np.ndarray | None = None):
        """A partition between the coarse and the fine cells: the data cells split per_side × per_side (a
        power of 2 up to the refinement), the other coarse cells, the outside cell. Without q: P_data's
        probabilities on it and the data cells' sub-cell centres ((|D|·per_side², 2), row-major per cell);
        with an estimate's q_fine and q: P_G's probabilities on it. Its JSD is at most the estimate's."""
        r, C = self.refine, self.grid
        block = r // per_side
        fine = self.p_fine if q_fine is None else q_fine
        merged = fine.reshape(-1, per_side, block, per_side, block).sum(axis=(2, 4)).reshape(len(fine), -1)
        coarse = np.append(self.p_coarse, self.p_out) if q is None else q
        cells = np.concatenate((merged.reshape(-1), coarse[:-1][self._rest], coarse[-1:]))
        if q is not None:
            return cells
        x0, _, y0, _ = self.region
        sub = (np.arange(per_side) + 0.5) / per_side
        dy, dx = self.data_cells // C, self.data_cells % C
        cx = x0 + (dx[:, None, None] + sub[None, None, :]) * self.cell[0] + 0 * sub[None, :, None]
        cy = y0 + (dy[:, None, None] + sub[None, :, None]) * self.cell[1] + 0 * sub[None, None, :]
        return cells, np.column_stack((cx.reshape(-1), cy.reshape(-1)))

    def _kl_adaptive(self, q_fine: np.ndarray, q_coarse: np.ndarray, q_out: float, n: int,
                     iy: np.ndarray, ix: np.ndarray, level: np.ndarray) -> float:
        """KL(P_data‖P_G) on a partition that follows P_G's samples: a quadtree from blocks of 2^KL_TOP
        coarse cells down to the fine cells, a cell split while it holds ≥ 4·kl_leaf_count(n) samples' mass
        (its quarters kl_leaf_count(n) on average); the other coarse cells and the outside cell whole. Noise in q̂
        raises KL (E log q̂ < log q), most in the sparse cells of P_data's tails; merging them only lowers
        it (a coarsening's KL never exceeds the finer one's), and only where G has few samples. What noise
        is left is subtracted by the delta method as in _variance_corrected, each sample (at fine cell
        (iy, ix), kernel level `level`) counted in its leaf."""
        C, r, M = self.grid, self.refine, self.depth
        thr = 4.0 * kl_leaf_count(n) / max(n, 1)

        def halve(a):  # sums of 2 × 2 blocks on the last two axes
            s0, s1 = a.shape[-2] // 2, a.shape[-1] // 2
            return a.reshape(*a.shape[:-2], s0, 2, s1, 2).sum(axis=(-3, -1))

        def double(a):
            return np.repeat(np.repeat(a, 2, axis=-2), 2, axis=-1)

        # leaves: (p, q, leaf mask, cell size exponent e: 2^e fine cells a side, on the coarse grid or not)
        leaves = []
        top = 0
        while top < KL_TOP and C % 2 ** (top + 1) == 0:  # blocks must tile the grid
            top += 1
        pyramid = [(self.p_coarse.reshape(C, C), q_coarse.reshape(C, C))]
        for _ in range(top):
            pyramid.append(tuple(halve(a) for a in pyramid[-1]))
        active = np.ones(pyramid[-1][0].shape, dtype=bool)
        is_data = ~self._rest.reshape(C, C)
        for t in range(top, -1, -1):
            p, q = pyramid[t]
            split = active & (q >= thr) & (is_data if t == 0 else True)
            leaves.append((p, q, active & ~split, M + t, True))
            if t > 0:
                active = double(split)
        # the split data cells, down to their r × r fine cells
        fine_levels = [(self.p_fine.reshape(-1, r, r), q_fine.reshape(-1, r, r))]
        for _ in range(M):
            fine_levels.append(tuple(halve(a) for a in fine_levels[-1]))
        active = split.reshape(-1)[self.data_cells][:, None, None]
        for j in range(M - 1, -1, -1):
            active = double(active)
            p, q = fine_levels[j]
            split = active & (q >= thr) if j > 0 else np.zeros_like(active)
            leaves.append((p, q, active & ~split, j, False))
            active = split
        kl = 0.0
        for p, q, leaf, _, _ in leaves:
            pl, ql = p[leaf], q[leaf]
            on = pl > 0
            kl += float((pl[on] * (np.log(pl[on]) - np.log(np.maximum(ql[on], KL_FLOOR)))).sum())
            kl += 0.5 * float(pl[on & (ql > 0)].sum()) / n  # the −q_L²/n part of Var(q̂_L)
        if self.p_out > 0:
            kl += self.p_out * (math.log(self.p_out) - math.log(max(q_out, KL_FLOOR))) + 0.5 * self.p_out / n
        # each sample's leaf: its p, q and size (finest leaves first: most samples sit in them)
        ds = self._data_slot[(iy // r) * C + ix // r]
        pi, qi = np.zeros(len(iy)), np.zeros(len(iy))
        ei = np.zeros(len(iy), dtype=np.int64)
        left = np.flatnonzero(ds >= 0)
        for p, q, leaf, e, on_grid in reversed(leaves):
            if on_grid and e == M:  # from the coarse cells up: the samples outside the data cells too
                left = np.concatenate((left, np.flatnonzero(ds < 0)))
            if on_grid:
                at = (iy[left] >> e, ix[left] >> e)
            else:
                at = (ds[left], (iy[left] % r) >> e, (ix[left] % r) >> e)
            hit = leaf[at]
            got = left[hit]
            pi[got], qi[got], ei[got] = p[at][hit], q[at][hit], e
            left = left[~hit]
        ok = qi > 0
        rel = self._omegas_of(level, ei)[ok] / (n * qi[ok])
        rel = np.where(rel <= MAX_REL_VAR, rel, 0.0)
        kl -= 0.5 * float((rel * pi[ok] / qi[ok]).sum()) / n
        n_out = n - len(iy)  # samples outside the region: the outside cell, each a whole count
        if n_out and q_out > 0 and self.p_out > 0:
            rel_out = 1.0 / (n * q_out)
            kl -= 0.5 * n_out * (rel_out if rel_out <= MAX_REL_VAR else 0.0) * self.p_out / q_out / n
        return max(kl, 0.0)

    def _omega(self, level: int, e: int) -> float:
        """Σ_c w_c²: the squared masses a kernel of the level puts into the cells of 2^e × 2^e fine cells
        around it (1 for a kernel binned as is; ≈ cell area/(4πσ²) for a wide one)."""
        key = (level, e)
        if key not in self._omegas:
            s = self.level_sigma(level)
            out = 1.0
            for size in self.fine * 2 ** e:
                sc = s / size
                if sc > 4:
                    out *= 1.0 / (2.0 * math.sqrt(math.pi) * sc)
                else:
                    w = _cell_gaussian(sc, int(math.ceil(5 * sc)) + 1)
                    out *= float((w * w).sum())
            self._omegas[key] = out
        return self._omegas[key]

    def _omegas_of(self, level: np.ndarray, e: np.ndarray) -> np.ndarray:
        """_omega for each sample's kernel level and cell size (a table lookup)."""
        table = np.array([[self._omega(lv, k) for k in range(int(e.max()) + 1)]
                          for lv in range(int(level.max()) + 1)])
        return table[level, e]

    def _variance_corrected(self, q_all, n, iy, ix, level, jsd, kl, kl_rev):
        """The divergences less the KDE's variance bias, by the delta method (as Miller–Madow's correction
        of a plug-in entropy): each divergence is a sum Σ_c f(q̂_c) over cells, so E f(q̂) ≈ f(E q̂) +
        ½ Σ_c f''(q_c) Var(q̂_c), with f'' = ½p/(q(p+q)) (JSD), p/q² (KL(P‖Q)), 1/q (KL(Q‖P)). The KDE
        is a mean of n kernels' cell masses w_ic, so Var(q̂_c) ≈ (1/n²) Σ_i w_ic² − q_c²/n; Σ_c w_ic² g(c)
        is taken as ω_i g(c_i), ω_i = Σ_c w_ic² of the sample's kernel level and c_i its own cell. With
        exact samples this removes most of the floor where the KDE's noise makes it (gaussian, 10⁴ samples,
        mean of 8 seeds: 0.0058 → 0.0025); the smoothing bias (E q̂ ≠ q) stays."""
        C, r = self.grid, self.refine
        cid = (iy // r) * C + ix // r
        ds = self._data_slot[cid]
        idx = np.where(ds >= 0, ds * (r * r) + (iy % r) * r + ix % r, self._rest_slot[cid])
        om = self._omegas_of(level, np.where(ds >= 0, 0, self.depth))
        q = np.clip(q_all, 0.0, None)
        q = q / q.sum()
        p = self._p_all
        qc, pc = q[idx], p[idx]
        ok = qc > 0
        rel = np.where(ok, om / np.maximum(qc, 1e-300) / n, 0.0)   # Σ_c w_ic²/(n q_c): per sample
        rel = np.where(rel <= MAX_REL_VAR, rel, 0.0)
        on = q > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            w_j = np.where(ok, pc / (pc + qc), 0.0)
            jsd_c = 0.25 * (rel * w_j).sum() / n - 0.25 * float((q[on] * p[on] / (p[on] + q[on])).sum()) / n
            kl_c = 0.5 * (rel * np.where(ok, pc / np.maximum(qc, 1e-300), 0.0)).sum() / n - 0.5 * float(p[on].sum()) / n
            klr_c = 0.5 * rel.sum() / n - 0.5 / n
        return (min(max(jsd - jsd_c, 0.0), LOG2), max(kl - kl_c, 0.0), max(kl_rev - klr_c, 0.0))

    def _divergences(self, q: np.ndarray) -> tuple[float, float, float]:
        """JSD, KL(P‖Q), KL(Q‖P) between P_data and cell probabilities q on the estimator's cells, in one
        pass (0 log 0 = 0; where a cell's probability is 0 the other side's log counts it as KL_FLOOR)."""
        p, log_p = self._p_all, self._log_p
        q = np.clip(q, 0.0, None)
        q = q / q.sum()
        on_p, on_q = p > 0, q > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            log_q = np.log(q)
            log_m = np.log(0.5 * (p + q))
            jsd = 0.5 * (float((p[on_p] * (log_p[on_p] - log_m[on_p])).sum())
                         + float((q[on_q] * (log_q[on_q] - log_m[on_q])).sum()))
            kl = float((p[on_p] * (log_p[on_p] - np.log(np.maximum(q[on_p], KL_FLOOR)))).sum())
            kl_rev = float((q[on_q] * (log_q[on_q] - self._log_p_floored[on_q])).sum())
        return min(max(jsd, 0.0), LOG2), max(kl, 0.0), max(kl_rev, 0.0)

    def _add_field(self, field: np.ndarray, m: int, q_coarse: np.ndarray, q_fine: np.ndarray) -> None:
        """Add a level-m field (masses on cells of 2^m fine cells): summed per coarse cell, and spread over
        the data cells' fine cells by bilinear interpolation, each data cell keeping its mass."""
        per = 2 ** (self.depth - m)
        C = self.grid
        # rows first, then columns: sums along contiguous axes (3× faster than both at once)
        coarse = field.reshape(C, per, -1).sum(axis=1).reshape(C, C, per).sum(axis=2).reshape(-1)
        q_coarse += coarse
        if len(self.data_cells) == 0:
            return
        if m == 0 or self.refine == 1:
            q_fine += coarse[self.data_cells][:, None] if self.refine == 1 else \
                field.reshape(C, per, C, per).transpose(0, 2, 1, 3).reshape(C * C, -1)[self.data_cells]
            return
        idx, w = self._interp[m]
        vals = (field.reshape(-1)[idx] * w).sum(axis=-1)
        total = vals.sum(axis=1)
        mass = coarse[self.data_cells]
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(total > 0, mass / total, 0.0)
        q_fine += vals * scale[:, None]
