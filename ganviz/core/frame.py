"""What a Session publishes: one typed Frame per publish, one LaneFrame per lane, and the typed
layers each mode's picture is made of (numpy copies only, safe to hand to another thread)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ganviz.core.config import TrainConfig


# --- the layers a mode's picture is made of -------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """y = f(x) on a grid (a density, D(x), D*(x)); NaN where it is not defined."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Segments:
    """Line segments from (x0, y0) to (x1, y1): Goodfellow et al.'s Fig. 1 mapping z → G(z)."""

    start: np.ndarray  # (n,) positions on the z axis
    end: np.ndarray    # (n,) positions on the x axis


@dataclass(frozen=True)
class Scatter:
    """Points in the plane, (n, 2)."""

    points: np.ndarray


@dataclass(frozen=True)
class Field:
    """A scalar field on a regular grid, rows y and columns x, over extent (x0, x1, y0, y1)."""

    values: np.ndarray  # (rows, cols) float32
    extent: np.ndarray  # (4,)


@dataclass(frozen=True)
class Arrows:
    """A vector at each point: (n, 2) origins and (n, 2) vectors."""

    origins: np.ndarray
    vectors: np.ndarray


@dataclass(frozen=True)
class Polylines:
    """(lines, points, 2): G applied to a regular grid of noise."""

    lines: np.ndarray


@dataclass(frozen=True)
class Images:
    """uint8 grey images, (n, h, w), with an optional score per image (D(x))."""

    pixels: np.ndarray
    scores: np.ndarray | None = None


@dataclass(frozen=True)
class MLELayer:
    """The maximum-likelihood baseline (THEORY §6) over P_data: a Gaussian mixture fitted by EM, and
    its divergences from P_data measured as the GAN's are (kl = KL(P_data‖P_MLE), kl_rev =
    KL(P_MLE‖P_data), jsd; nats; NaN where that estimator does not measure one)."""

    components: int
    seed: int
    weights: np.ndarray       # (K,)
    means: np.ndarray         # (K, d)
    covariances: np.ndarray   # (K, d, d)
    metrics: dict[str, float]
    density: Curve | None = None  # 1-D: p_MLE on the plotted grid; 2-D: None (the view draws ellipses)


@dataclass(frozen=True)
class Saturation:
    """THEORY.md §4 made visible: D(G(z)) on the newest batch (D* with d_oracle), and over training the norm of
    ∂loss/∂θ_G under the minimax loss log(1 − D(G(z))) and the non-saturating −log D(G(z)), both measured at
    publish time on the same batch (ganviz.core.saturation)."""

    d_fake: np.ndarray              # (m,) in (0, 1)
    steps: np.ndarray               # iterations of the gradient-norm measurements
    grad_minimax: np.ndarray
    grad_nonsaturating: np.ndarray
    loss: str                       # the loss G trains with
    d_oracle: bool = False          # G's loss sees the exact D*, not the network D


# --- what the session publishes -------------------------------------------------------------------
@dataclass(frozen=True)
class LaneFrame:
    id: int
    label: str                      # what distinguishes this lane from the others, e.g. "k = 5, lr_D 1e-3"
    cfg: TrainConfig                # the lane's settings as the session holds them (a copy)
    iteration: int
    d_updates: int
    g_updates: int
    state: str                      # ok | diverged
    metrics: dict[str, float]       # the latest measurement
    history: dict[str, np.ndarray]  # "step" and every metric over time
    picture: object | None          # the mode's typed picture of the latest measurement (None if not measured)
    message: str = ""
    phase: str = ""                 # what the last Step D / Step G / slow-motion phase did, in words
    phase_kind: str = ""            # d | g | "": the part of the model that phase updated
    ghost: object | None = None     # the picture before that phase (drawn faintly), else None
    # Fit D* spans: (training iteration where it ran, its D-only updates); they are not iterations
    fit_spans: tuple[tuple[int, int], ...] = ()
    diverged_kind: str = ""         # "" | nan (NaN/inf) | range (losses or |G(z)| far out of range)
    saturation: Saturation | None = None  # the toy modes with the minimax / non-saturating loss, else None


@dataclass(frozen=True)
class LogEntry:
    """An error or notice the user can open later, with its traceback when it is an error."""

    time: float
    text: str
    traceback: str = ""


@dataclass(frozen=True)
class Frame:
    mode: str
    state: str                      # paused | running | fitting
    lanes: tuple[LaneFrame, ...]
    target: str                     # the task's one-line description of P_data
    device: str
    steps_per_s: float = 0.0        # iterations per second of each lane
    message: str = ""               # the newest notice for the user
    generation: int = 0             # bumps whenever the set of runs is rebuilt (new run, load, reset)
    applied: int = 0                # sequence number of the last command applied (see ui.worker)
    log: tuple[LogEntry, ...] = field(default_factory=tuple)
    # the MLE layer (THEORY §6): components asked for (0: off), its state (off | fitting | ready |
    # the reason it failed) and the fit once ready; fitted once per (target, K, seed), never per frame
    mle_components: int = 0
    mle_state: str = "off"
    mle: MLELayer | None = None

    def lane(self, lane_id: int) -> LaneFrame | None:
        return next((lane for lane in self.lanes if lane.id == lane_id), None)
