"""G against the exact D* (THEORY.md §7): D* = p_data/(p_data + p_G) of the current P_G, tabulated on the toy
modes' grids, held fixed during a G update and interpolated at x = G(z) so that G's loss is differentiable in G(z).

The table comes from the mode's own density estimate (1-D: the shared estimator's quadrature cells over
[-24, 24]; 2-D: the metric grid's cells), so the D* G trains against is the D* the view draws and the JSD
is measured with. Between cell centres D* is interpolated linearly (1-D) or bilinearly (2-D) by
`torch.nn.functional.grid_sample`; it is constant beyond the outermost centres, and beyond the grid it takes
the value of the mass outside it (0 in 1-D, where p_data has no mass). Where neither density has mass D* is
undefined; it counts as 0 there (no data), which is flat and so pulls G nowhere. Densities below 10⁻⁹ of their
peak count as 0 (d_star_cells says why).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DStarGrid:
    """D* at the centres of a regular grid: values (L, rows, cols) for L lanes (1-D: rows = 1), the grid's
    edges lo = (x0[, y0]) and hi = (x1[, y1]), and D* beyond the grid, (L,)."""

    values: torch.Tensor
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    outside: torch.Tensor

    @classmethod
    def stack(cls, grids: list["DStarGrid"]) -> "DStarGrid":
        """One table for the lanes of a batched step (every lane's own D*, on the same grid)."""
        first = grids[0]
        return cls(torch.cat([g.values for g in grids]), first.lo, first.hi, torch.cat([g.outside for g in grids]))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """D* at the points x, (m, dim) for one lane or (L, m, dim) for L lanes, as (m,) or (L, m);
        differentiable in x (the table itself is a constant)."""
        lone = x.dim() == 2
        xs = x.unsqueeze(0) if lone else x
        dim = xs.shape[-1]
        lo = torch.tensor(self.lo, dtype=xs.dtype, device=xs.device)
        hi = torch.tensor(self.hi, dtype=xs.dtype, device=xs.device)
        # grid_sample's coordinates: -1 and 1 are the outer edges of the outer cells (align_corners=False)
        u = 2 * (xs - lo) / (hi - lo) - 1
        if dim == 1:  # a 1-D table is one row: sample it at y = 0
            u = torch.cat((u, torch.zeros_like(u)), dim=-1)
        d = F.grid_sample(self.values.unsqueeze(1).to(xs.dtype), u.unsqueeze(2), mode="bilinear",
                          padding_mode="border", align_corners=False)[:, 0, :, 0]
        inside = ((xs >= lo) & (xs <= hi)).all(dim=-1)
        d = torch.where(inside, d, self.outside.to(d.dtype).view(-1, 1))
        return d[0] if lone else d


REL_FLOOR = 1e-9  # densities below this share of their own peak count as 0 (the 1-D estimate of p_G has this floor)


def d_star_cells(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """p_data/(p_data + p_G) per cell (densities or cell probabilities on one grid); 0 where neither has mass.

    Both densities are cut at REL_FLOOR of their peak first: a ratio of p_data = 10⁻¹⁴⁷ to a p_G the estimate
    rounded to 0 means nothing, and read as D* = 1 it would pull G's outermost samples with a slope of
    numerical noise. So where P_G has its mass and p_data is negligible, D* is exactly 0, and flat."""
    p = torch.where(p_data >= REL_FLOOR * p_data.max(), p_data, torch.zeros_like(p_data))
    q = torch.where(p_g >= REL_FLOOR * p_g.max(), p_g, torch.zeros_like(p_g))
    total = p + q
    return torch.where(total > 0, p / torch.where(total > 0, total, torch.ones_like(total)), torch.zeros_like(total))
