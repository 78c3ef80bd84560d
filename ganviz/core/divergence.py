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


# --- what the other losses' discriminators estimate (THEORY.md §8) ----------------------------------
def chi2(p_data: np.ndarray, p_g: np.ndarray, cell: float) -> float:
    """Pearson χ²(P_data + P_G ‖ 2P_G) in Mao et al.'s (2017) sense: ∫ (p_data − p_G)² / (p_data + p_G),
    what LSGAN's G objective equals (up to a constant) at the optimal D; between 0 and 2."""
    p, q = _normalise(p_data, cell), _normalise(p_g, cell)
    total = p + q
    mask = total > 0
    return float(((p - q)[mask] ** 2 / total[mask]).sum() * cell)


def lsgan_estimate(p_data: np.ndarray, p_g: np.ndarray, d: np.ndarray, cell: float) -> float:
    """E_data[D²] + E_G[D²] = 2C(G) with the network's D (codes a = −1, b = 1, c = 0): equals chi2 at
    D* = (p_data − p_G)/(p_data + p_G)."""
    p, q = _normalise(p_data, cell), _normalise(p_g, cell)
    return float(((p + q) * d * d).sum() * cell)


def lsgan_d_star(p_data: np.ndarray, p_g: np.ndarray, rel_floor: float = 1e-3) -> np.ndarray:
    """LSGAN's optimal D with codes a = −1, b = 1: (p_data − p_G)/(p_data + p_G); NaN without mass."""
    return 2.0 * d_star(p_data, p_g, rel_floor) - 1.0


def w1_1d(p_data: np.ndarray, p_g: np.ndarray, cell: float) -> float:
    """W1(P_data, P_G) = ∫ |F_data − F_G| dx, exact for densities tabulated on a 1-D grid."""
    p, q = _normalise(p_data, cell), _normalise(p_g, cell)
    return float(np.abs(np.cumsum(p - q) * cell).sum() * cell)


def critic_estimate(p_data: np.ndarray, p_g: np.ndarray, f: np.ndarray, cell: float) -> float:
    """E_data[f] − E_G[f] on the grid: ≤ W1 for a 1-Lipschitz f, equal for the optimal one."""
    p, q = _normalise(p_data, cell), _normalise(p_g, cell)
    return float(((p - q) * f).sum() * cell)


def tv(p_data: np.ndarray, p_g: np.ndarray, cell: float) -> float:
    """Total variation ½∫|p_data − p_G|, between 0 and 1."""
    p, q = _normalise(p_data, cell), _normalise(p_g, cell)
    return float(0.5 * np.abs(p - q).sum() * cell)


def hinge_estimate(p_data: np.ndarray, p_g: np.ndarray, f: np.ndarray, cell: float) -> float:
    """1 − L_D/2 with the hinge loss L_D = E_data[max(0, 1 − f)] + E_G[max(0, 1 + f)]: ≤ TV, equal at
    f* = sign(p_data − p_G)."""
    p, q = _normalise(p_data, cell), _normalise(p_g, cell)
    loss_d = ((p * np.maximum(0.0, 1 - f) + q * np.maximum(0.0, 1 + f)).sum() * cell)
    return float(1.0 - loss_d / 2.0)


def hinge_d_star(p_data: np.ndarray, p_g: np.ndarray, rel_floor: float = 1e-3) -> np.ndarray:
    """The hinge loss's optimal critic sign(p_data − p_G) (NaN where neither density has mass)."""
    return np.sign(2.0 * d_star(p_data, p_g, rel_floor) - 1.0)


def sliced_w1(a: np.ndarray, b: np.ndarray, directions: np.ndarray) -> float:
    """Sliced W1 between two equal-size samples in the plane: the mean over unit `directions` of the
    exact 1-D W1 of the projections (sorted samples). A lower bound on W1 (each projection is 1-Lipschitz)."""
    pa = np.sort(a @ directions.T, axis=0)
    pb = np.sort(b @ directions.T, axis=0)
    return float(np.abs(pa - pb).mean())
