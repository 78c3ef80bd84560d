"""Numerical divergences between densities tabulated on a grid (THEORY.md §3 and §5).

All functions take densities (or cell probabilities) on the same regular grid with cell size
`cell` (length in 1-D, area in 2-D); each is renormalised to integrate to one over the grid,
so mass outside the grid is ignored consistently for both distributions. Results are in nats.
"""

from __future__ import annotations

import math

import numpy as np

LOG4 = math.log(4.0)


def _normalise(p: np.ndarray, cell: float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, None)
    total = p.sum() * cell
    if total <= 0 or not np.isfinite(total):
        raise ValueError("a density on the grid must have positive, finite mass")
    return p / total


def _xlogy_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * log(a / b) with 0 log 0 = 0."""
    out = np.zeros_like(a)
    mask = a > 0
    out[mask] = a[mask] * (np.log(a[mask]) - np.log(b[mask]))
    return out


def kl(p: np.ndarray, q: np.ndarray, cell: float, floor: float = 1e-12) -> float:
    """KL(P || Q) = ∫ p log(p / q); q is floored at `floor` so a missing tail gives a large, finite value."""
    p, q = _normalise(p, cell), _normalise(q, cell)
    return float(_xlogy_ratio(p, np.maximum(q, floor)).sum() * cell)


def jsd(p: np.ndarray, q: np.ndarray, cell: float) -> float:
    """JSD(P || Q) = ½ KL(P || M) + ½ KL(Q || M), M = (P + Q) / 2; between 0 and log 2."""
    p, q = _normalise(p, cell), _normalise(q, cell)
    m = 0.5 * (p + q)
    value = 0.5 * (_xlogy_ratio(p, m).sum() + _xlogy_ratio(q, m).sum()) * cell
    return float(min(max(value, 0.0), math.log(2.0)))


def d_star(p_data: np.ndarray, p_g: np.ndarray, rel_floor: float = 1e-3) -> np.ndarray:
    """D*(x) = p_data / (p_data + p_G); NaN where both densities are below `rel_floor` of the peak:
    D* is undefined where neither has mass, and there a sample-based p_G is mostly noise."""
    total = p_data + p_g
    out = np.full_like(total, np.nan, dtype=np.float64)
    mask = total > rel_floor * total.max()
    out[mask] = p_data[mask] / total[mask]
    return out


def value_on_grid(p_data: np.ndarray, p_g: np.ndarray, log_d: np.ndarray, log_one_minus_d: np.ndarray,
                  cell: float) -> float:
    """V(G, D) = ∫ p_data log D + ∫ p_G log(1 − D) by numerical integration on the grid."""
    p, q = _normalise(p_data, cell), _normalise(p_g, cell)
    return float((p * log_d + q * log_one_minus_d).sum() * cell)


def jsd_lower_bound(v: float) -> float:
    """(V(G, D) + log 4) / 2 ≤ JSD(P_data || P_G), with equality at D = D*."""
    return 0.5 * (v + LOG4)


def gaussian_smooth(counts: np.ndarray, sigma_cells: float, axes: tuple[int, ...] = (0,)) -> np.ndarray:
    """Convolve a histogram with a Gaussian of `sigma_cells` along `axes` (truncated at 4σ, mass kept)."""
    if sigma_cells <= 0.25:
        return counts.astype(np.float64)
    radius = int(math.ceil(4 * sigma_cells))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (t / sigma_cells) ** 2)
    kernel /= kernel.sum()
    out = counts.astype(np.float64)
    for axis in axes:
        out = np.apply_along_axis(np.convolve, axis, out, kernel, mode="same")
    return out
