"""The Session: the one command API that drives training, for the window, the CLI, the bench and the tests.

A Session owns lanes, each one GAN running Algorithm 1 with its own settings (a Trainer), and
trains them together: lanes of one architecture in one batched step (`ganviz.core.lanes`), all
lanes in lockstep. Commands (play, pause, step, reset, fit D*, set, add/remove lane, save) act
between training chunks; whoever drives it calls `advance()` in a loop (the window's worker
thread, `ganviz train`) and `publish()` for a typed Frame. Listeners get every measured row
(`on_row`), so metrics.csv and the window's history come from the same measurements.

The Session is not thread-safe: one thread drives it, others hand it commands (ui.worker).
"""

from __future__ import annotations

import copy

import dataclasses
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganviz.core import losses, mle, modes, phases, saturation
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.device import choose_device, describe, keep_freed_memory, pick_device
from ganviz.core.frame import Frame, LaneFrame, LogEntry
from ganviz.core.lanes import BatchedGroup, SequentialGroup, make_groups
from ganviz.core.metrics_log import MetricsLog
from ganviz.core.trainer import FitDStar, NonFiniteError, OutOfRangeError, Trainer

LIVE_SETTINGS = ("k", "k_g", "lr_d", "lr_g", "loss", "freeze_g", "d_oracle")
# Settings a lane may have of its own that need new weights (a new run of that lane).
LANE_SETTINGS = ("seed", "noise_dim", "noise", "hidden", "layers", "batch", "optimizer", "beta1", "beta2")
# Settings every lane shares (what is learned and where): changing them starts every lane again.
SHARED_SETTINGS = ("mode", "dataset", "spread", "data_dir", "extra", "device")
HISTORY_ROWS = 20000
CHUNK_SECONDS = 0.004  # train in chunks this long, so a command waits at most about this long
LOG_LIMIT = 200
SHORT = {"k": "k", "k_g": "k_G", "beta1": "β1", "beta2": "β2", "lr_d": "lr_D", "lr_g": "lr_G", "loss": "loss", "seed": "seed", "noise_dim": "noise dim",
         "noise": "noise", "hidden": "hidden", "layers": "layers", "batch": "batch", "optimizer": "optimizer",
         "freeze_g": "G frozen", "d_oracle": "G against"}


def format_value(key: str, value: Any) -> str:
    if key in ("lr_d", "lr_g"):
        return f"{value:.3g}"
    if key == "d_oracle":
        return "exact D*" if value else "network D"
    if key == "loss":
        return {"nonsaturating": "non-saturating", "lsgan": "LSGAN", "wgan": "WGAN", "wgan-gp": "WGAN-GP"}.get(value, value)
    return str(value)


def varying(cfgs: list[TrainConfig]) -> list[str]:
    """The per-lane settings that differ between `cfgs`, in a fixed order."""
    keys = [key for key in (*LIVE_SETTINGS, *LANE_SETTINGS) if len({getattr(c, key) for c in cfgs}) > 1]
    return keys


def lane_label(cfg: TrainConfig, keys: list[str]) -> str:
    """What distinguishes a lane, e.g. 'k = 5, lr_D 0.001'."""
    if not keys:
        return ""
    return ", ".join(f"{SHORT[key]} = {format_value(key, getattr(cfg, key))}" if key == "k"
                     else f"{SHORT[key]} {format_value(key, getattr(cfg, key))}" for key in keys)


def group_key(cfg: TrainConfig) -> tuple:
    """Lanes with equal keys have one architecture and one P_data: they can train in one batched step."""
    return (cfg.mode, cfg.dataset, cfg.spread, cfg.data_dir, repr(sorted(cfg.extra.items())), cfg.noise_dim,
            cfg.noise, cfg.hidden, cfg.layers, cfg.batch, cfg.optimizer, cfg.beta1, cfg.beta2,
            losses.family(cfg.loss))


def task_key(cfg: TrainConfig) -> tuple:
    """Lanes with equal keys can share one Task (its grids, caches and, for MNIST, its classifier)."""
    return (*group_key(cfg), cfg.seed)


@dataclass
class Lane:
    id: int
    trainer: Trainer
    log: MetricsLog
    state: str = "ok"                # ok | diverged
    message: str = ""
    picture: object | None = None    # the latest measurement's picture
    measured_at: int = -1            # iteration of the latest measurement
    fit: FitDStar | None = None
    fits: list[FitDStar] = field(default_factory=list)  # every Fit D* of this run (its spans)
    phase: str = ""                  # what the last Step D / Step G / slow-motion phase did
    phase_kind: str = ""             # d | g | "" (the part of the model that phase updated)
    ghost: object | None = None      # the picture before that phase (drawn faintly)
    diverged_by: Exception | None = None
    saturation: saturation.SaturationLog | None = None  # D(G(z)) and both losses' gradient norms (THEORY §4)
    _history: dict[str, np.ndarray] = field(default_factory=dict)
    _history_rows: int = -1

    @property
    def cfg(self) -> TrainConfig:
        return self.trainer.cfg

    def history(self) -> dict[str, np.ndarray]:
        """A copy of the metric history, remade only when a row was added."""
        if self._history_rows != len(self.log) or self.log.max_rows and len(self.log) >= self.log.max_rows:
            self._history = self.log.copy()
            self._history_rows = len(self.log)
        return self._history


class Session:
    def __init__(self, cfg: TrainConfig | list[TrainConfig], history_rows: int = HISTORY_ROWS):
        cfgs = list(cfg) if isinstance(cfg, (list, tuple)) else [cfg]
        if not cfgs:
            raise ConfigError("--grid", "a session needs at least one lane")
        _check_shared(cfgs)
        keep_freed_memory()
        self.history_rows = history_rows
        self.device, notice = pick_device(cfgs[0].device, cfgs[0].mode, len(cfgs))
        self.device_reason = choose_device(cfgs[0].device, cfgs[0].mode, len(cfgs))[1]  # for config.json
        self.state = "paused"                 # paused | running | fitting
        self.max_rate: float | None = None    # iterations/s of each lane; None = as fast as it goes
        self.generation = 0
        self.message = notice or ""
        self.log: list[LogEntry] = []
        if notice:
            self.notice(notice)
        self.on_row: list[Callable[[Lane, dict[str, float]], None]] = []
        self.lanes: list[Lane] = []
        self._tasks: dict[tuple, Any] = {}
        self._next_id = 0
        self._groups: list[SequentialGroup | BatchedGroup] | None = None
        self._seconds_per_iteration = 1e-3
        self._rate_origin = (time.perf_counter(), 0)
        self._speed = (time.perf_counter(), 0, 0.0)
        self._cursor = 0  # round-robin position of publish()'s measurements
        self.slow_motion: float | None = None  # phases of Algorithm 1 per second; None = off
        self._last_phase = 0.0
        self.mle_components = 0               # the MLE layer (THEORY §6): components, 0 = off
        self.mle_seed = 0
        self._mle = mle.Baseline()
        for c in cfgs:
            self.lanes.append(self._make_lane(c))

    # --- lanes ----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.lanes[0].cfg.mode

    @property
    def cfg(self) -> TrainConfig:
        """The first lane's settings (the shared ones are the same in every lane)."""
        return self.lanes[0].cfg

    def lane(self, lane_id: int) -> Lane:
        for lane in self.lanes:
            if lane.id == lane_id:
                return lane
        raise KeyError(f"no lane {lane_id}")

    def _make_lane(self, cfg: TrainConfig, lane_id: int | None = None) -> Lane:
        cfg.validate()
        key = task_key(cfg)
        task = self._tasks.get(key)
        if task is None:
            from ganviz.core.tasks import make_task

            task = make_task(cfg, self.device)
        trainer = Trainer(cfg, task=task)
        self._tasks[key] = task
        if lane_id is None:
            lane_id, self._next_id = self._next_id, self._next_id + 1
        columns = ("step", "d_loss", "g_loss", *task.metric_names)
        self._invalidate_groups()
        return Lane(lane_id, trainer, MetricsLog(columns, max_rows=self.history_rows))

    def add_lane(self, copy_of: int | None = None, **changes: Any) -> int:
        """A new lane (a new run from iteration 0) with the settings of lane `copy_of` (default: the
        last lane) and `changes` (per-lane settings only). Returns its id."""
        source = self.lane(copy_of) if copy_of is not None else self.lanes[-1]
        _check_lane_changes(changes)
        cfg = source.cfg.replace(**changes)
        lane = self._make_lane(cfg)
        self.lanes.append(lane)
        self._measure(lane, views=True)
        return lane.id

    def remove_lane(self, lane_id: int) -> None:
        if len(self.lanes) == 1:
            raise ValueError("the last lane cannot be removed")
        lane = self.lane(lane_id)
        self._invalidate_groups()
        self.lanes.remove(lane)
        self._forget_unused_tasks()

    def set(self, lane_id: int, **changes: Any) -> None:
        """Change settings of one lane. Live settings (k, lr_d, lr_g, loss, freeze_g, d_oracle) apply at the
        next iteration and keep weights and optimizer state; seed, noise, noise_dim, hidden, layers,
        batch and optimizer start a new run of that lane. Other lanes are untouched."""
        lane = self.lane(lane_id)
        _check_lane_changes(changes)
        live = {k: v for k, v in changes.items() if k in LIVE_SETTINGS}
        restart = {k: v for k, v in changes.items() if k not in LIVE_SETTINGS and getattr(lane.cfg, k) != v}
        loss = changes.get("loss", lane.cfg.loss)
        lane.cfg.replace(**changes)  # validates every change before anything happens
        if losses.family(loss) != losses.family(lane.cfg.loss):
            restart["loss"] = loss  # D means something else under this loss: a new run with its settings
        if restart:
            given = {k: v for k, v in changes.items() if k != "loss"}
            cfg = lane.cfg.with_loss(loss, **given) if "loss" in restart else lane.cfg.replace(**changes)
            new = self._make_lane(cfg, lane_id=lane.id)
            self.lanes[self.lanes.index(lane)] = new
            self._forget_unused_tasks()
            self._measure(new, views=True)
            self.notice(f"new run of lane {lane.id}: " + ", ".join(
                f"{SHORT.get(k, k)} {format_value(k, v)}" for k, v in restart.items()))
        elif live:
            lane.trainer.update(**live)

    def configure(self, **changes: Any) -> None:
        """Change shared settings (mode, dataset, spread, data_dir, extra, device) or per-lane ones
        for every lane: every lane starts a new run. All new lanes are built before any is replaced,
        so a bad dataset leaves the session as it was."""
        if "mode" in changes and changes["mode"] != self.mode:
            # The seed goes along unless it is the old mode's default (then the new mode's default,
            # chosen to show its effect, e.g. the 2-D ring, is used).
            own_seed = self.cfg.seed != modes.spec(self.mode).defaults.get("seed", 0)
            base = TrainConfig.for_mode(changes.pop("mode"), seed=self.cfg.seed if own_seed else None,
                                        device=self.cfg.device)
            self.replace([base.replace(**changes)] if changes else [base])
            return
        cfgs = [lane.cfg.replace(**changes) for lane in self.lanes]
        self.replace(cfgs, keep_ids=True)

    def replace(self, cfgs: list[TrainConfig], keep_ids: bool = False) -> None:
        """New runs for `cfgs` in place of every lane (built first: on error nothing changes)."""
        _check_shared(cfgs)
        old_tasks, old_lanes = self._tasks, self.lanes
        old_device = self.device, self.device_reason
        self._tasks = {}
        try:
            # `auto` depends on the mode and the number of lanes (core/device.py), so choose again.
            device, notice = pick_device(cfgs[0].device, cfgs[0].mode, len(cfgs))
            self.device_reason = choose_device(cfgs[0].device, cfgs[0].mode, len(cfgs))[1]
            if notice and (device != self.device or cfgs[0].device != old_lanes[0].cfg.device):
                self.notice(notice)
            self.device = device
            new = [self._make_lane(c, lane_id=(old.id if keep_ids and i < len(old_lanes) else None))
                   for i, (c, old) in enumerate(zip(cfgs, old_lanes + [old_lanes[-1]] * len(cfgs)))]
        except Exception:
            self._close_tasks(self._tasks, keep=old_tasks)
            self._tasks = old_tasks
            self.device, self.device_reason = old_device
            raise
        self._close_tasks(old_tasks, keep=self._tasks)
        self.lanes = new
        self._new_generation()

    def _new_generation(self) -> None:
        self.generation += 1
        self.state = "paused"
        self._invalidate_groups()
        for lane in self.lanes:
            self._measure(lane, views=True)

    def _forget_unused_tasks(self) -> None:
        used = {id(lane.trainer.task) for lane in self.lanes}
        drop = {k: t for k, t in self._tasks.items() if id(t) not in used}
        for key in drop:
            del self._tasks[key]
        self._close_tasks(drop, keep={})

    @staticmethod
    def _close_tasks(tasks: dict, keep: dict) -> None:
        kept = {id(t) for t in keep.values()}
        for task in tasks.values():
            close = getattr(task, "close", None)
            if close is not None and id(task) not in kept:
                close()

    def close(self) -> None:
        """Stop what the tasks run in the background (e.g. the MNIST classifier) and wait for it."""
        self._close_tasks(self._tasks, keep={})
        self._tasks = {}
        self._mle.close()

    # --- groups ---------------------------------------------------------------------------------
    def _invalidate_groups(self) -> None:
        if self._groups is not None:
            for group in self._groups:
                group.write_back(detach=True)
            self._groups = None

    def _ensure_groups(self) -> list[SequentialGroup | BatchedGroup]:
        if self._groups is None:
            trainers = [lane.trainer for lane in self.lanes]
            self._groups = make_groups(trainers, [group_key(t.cfg) for t in trainers],
                                       modes.spec(self.mode).batchable)
        return self._groups

    def groups(self) -> list[list[int]]:
        """Lane ids by training group (lanes in one group train in one batched step)."""
        index = {id(lane.trainer): lane.id for lane in self.lanes}
        return [[index[id(t)] for t in g.trainers] for g in self._ensure_groups()]

    def _sync_state(self) -> None:
        """Each lane's optimizers hold their current state (batched groups keep it stacked)."""
        for group in self._groups or []:
            group.write_back(detach=False)

    # --- commands -------------------------------------------------------------------------------
    def play(self) -> None:
        self._end_fits()
        if any(lane.state == "ok" for lane in self.lanes):
            self.state = "running"
            self._rate_origin = (time.perf_counter(), self._iteration())
        else:
            self.notice("every lane has diverged: press Reset (or change the settings) first")

    def pause(self) -> None:
        self._end_fits()
        self.state = "paused"

    def set_mle(self, components: int, seed: int = 0) -> None:
        """The MLE layer (THEORY §6): a Gaussian mixture of `components` (1–10; 0 = off) fitted by EM
        to samples of P_data (drawn with `seed`), shared by every lane (they share P_data). It is
        fitted once per (target, components, seed) in the background and cached; each Frame carries
        it (Frame.mle), so training never waits for it and nothing is refitted per frame."""
        if components != 0:
            mle.check_int("MLE components", components, mle.COMPONENTS_MIN, mle.COMPONENTS_MAX)
            mle.check_int("MLE seed", seed, 0, 2**63 - 1)
        self.mle_components, self.mle_seed = int(components), int(seed)
        self._mle_layer()  # starts the fit now, not at the next publish

    def _mle_layer(self):
        """(layer or None, state) of the MLE layer for the current target."""
        if not self.mle_components:
            return None, "off"
        if self.mode not in mle.MLE_MODES:
            return None, "no density in this mode"
        cfg = self.cfg
        target = (cfg.mode, cfg.dataset, cfg.spread, cfg.data_dir, repr(sorted(cfg.extra.items())))
        return self._mle.get(self.lanes[0].trainer.task, target, self.mle_components, self.mle_seed)

    def mle_landed(self) -> bool:
        """True once after a background MLE fit finished: a frame should be published to show it."""
        return self._mle.landed()

    def wait_mle(self, timeout: float | None = None) -> bool:
        """Block until the MLE fit under way (if any) is done (tests, scripts); False on timeout."""
        return self._mle.wait(timeout)

    def set_speed(self, max_rate: float | None) -> None:
        """Limit iterations per second of each lane (None: as fast as the machine goes)."""
        if max_rate is not None and not (math.isfinite(max_rate) and max_rate > 0):
            raise ValueError(f"speed must be a positive number of iterations per second (got {max_rate!r})")
        self.max_rate = max_rate
        self._rate_origin = (time.perf_counter(), self._iteration())

    def step(self, n: int = 1) -> None:
        """Exactly `n` iterations of Algorithm 1 on every lane that has not diverged, then measure."""
        self._end_fits()
        self.state = "paused"
        self._train(n)
        for lane in self.lanes:
            self._measure(lane, views=True)

    def step_d(self) -> None:
        """Exactly one D update on every lane that has not diverged, G fixed (a lane's iteration
        is complete only after its G update), then measure."""
        self._end_fits()
        self.state = "paused"
        self._phase("d")

    def step_g(self) -> None:
        """Exactly one G update on every lane that has not diverged, D fixed; this completes the
        lane's current iteration (whatever number of D updates it had), then measure."""
        self._end_fits()
        self.state = "paused"
        self._phase("g")

    def set_slow_motion(self, phases_per_s: float | None) -> None:
        """Slow motion: while running, each iteration is shown as its phases (D update 1..k, then
        G), `phases_per_s` of them a second, each one measured and published. None: off."""
        if phases_per_s is not None and not (math.isfinite(phases_per_s) and phases_per_s > 0):
            raise ValueError(f"slow motion needs a positive number of phases per second (got {phases_per_s!r})")
        self.slow_motion = phases_per_s
        self._last_phase = 0.0
        if phases_per_s is None:
            for lane in self.lanes:
                lane.ghost = None
        self._rate_origin = (time.perf_counter(), self._iteration())

    def _phase(self, kind: str | None) -> None:
        """One phase on every lane that has not diverged: "d", "g", or (None) the next phase of the
        lane's iteration. Lane by lane through the Trainers (which own their weights and Adam
        state once the batched groups are dissolved), so each is exactly Algorithm 1."""
        self._invalidate_groups()
        for lane in self.lanes:
            if lane.state != "ok":
                continue
            t = lane.trainer
            cfg = t.cfg
            this = kind or ("d" if t.d_phase < cfg.k else "g")
            ghost = lane.picture
            try:
                if this == "d":
                    t.step_d()
                    lane.phase = phases.d_phase(t.d_phase, cfg.k, cfg.loss)
                elif t.g_frozen:
                    lane.phase = phases.frozen_phase()
                    if kind is None:  # slow motion goes on with the next iteration's D updates
                        t.d_phase = 0
                else:
                    done = t.d_phase
                    t.step_g(cfg.k_g if kind is None else 1)
                    against = " against the exact D* of the current P_G" if cfg.d_oracle else ""
                    lane.phase = phases.g_phase(done, cfg.k, cfg.loss) + f"{against} (iteration {t.iteration} done)"
            except Exception as exc:
                self.error(f"training stopped: {type(exc).__name__}: {exc}")
                self.state = "paused"
                return
            lane.phase_kind = this
            self._measure(lane, views=True)
            lane.ghost = ghost
        first = next((lane for lane in self.lanes if lane.state == "ok"), None)
        if first is not None and kind is not None:
            self.message = first.phase

    def reset_defaults(self) -> None:
        """Every lane starts again with its mode's default settings (the target kept): the way out of
        a run that diverges again after Reset because its settings make it diverge."""
        cfgs = [TrainConfig.for_mode(lane.cfg.mode, dataset=lane.cfg.dataset, spread=lane.cfg.spread,
                                     data_dir=lane.cfg.data_dir, extra=dict(lane.cfg.extra),
                                     device=lane.cfg.device) for lane in self.lanes]
        self._end_fits()
        self.replace(cfgs, keep_ids=True)
        self.notice("reset with defaults: every lane starts again with the mode's default settings")

    def reset(self) -> None:
        """New weights from each lane's own seed: the same runs again (diverged lanes too)."""
        self._end_fits()
        self._invalidate_groups()
        for lane in self.lanes:
            lane.trainer.reset()
            lane.log = MetricsLog(lane.log.columns, max_rows=self.history_rows)
            lane.state, lane.message, lane.picture, lane.measured_at = "ok", "", None, -1
            lane.fits, lane.phase, lane.phase_kind, lane.ghost = [], "", "", None
            lane.saturation = None
            lane._history_rows = -1
        self.notice("reset: new weights from each lane's seed")
        self._new_generation()

    def fit_d_star(self) -> None:
        """Freeze G and train only D on every lane until V(G, D) stops rising (THEORY.md §3)."""
        self._end_fits()
        fitting = False
        for lane in self.lanes:
            if lane.state == "ok":
                lane.fit = FitDStar(lane.trainer)
                lane.fits.append(lane.fit)
                lane.phase, lane.phase_kind, lane.ghost = "", "", None
                fitting = True
        if fitting:
            self.state = "fitting"
            self.notice("Fit D*: G frozen, training only D until V(G, D) stops rising…")

    def _end_fits(self) -> None:
        for lane in self.lanes:
            if lane.fit is not None:
                lane.fit.finish()
                lane.fit = None
        if self.state == "fitting":
            self.state = "paused"

    # --- training -------------------------------------------------------------------------------
    def _iteration(self) -> int:
        return max((lane.trainer.iteration for lane in self.lanes), default=0)

    def _train(self, n: int) -> None:
        """n iterations on every lane that has not diverged (and is still fitting, while fitting)."""
        partial = [lane for lane in self.lanes if lane.trainer.d_phase and lane.state == "ok"]
        if partial:  # finish the iterations Step D left open, lane by lane (one extra iteration)
            self._invalidate_groups()
            for lane in partial:
                lane.trainer.step(1)
        for lane in self.lanes:
            if lane.phase:
                lane.phase, lane.phase_kind, lane.ghost = "", "", None
        groups = self._ensure_groups()
        for group in groups:
            lanes = [self._lane_of(t) for t in group.trainers]
            active = [lane.state == "ok" and (self.state != "fitting" or lane.fit is not None) for lane in lanes]
            if any(active):
                try:
                    group.step(n, active)
                except Exception as exc:  # e.g. out of memory: stop, say so, keep the weights
                    self.error(f"training stopped: {type(exc).__name__}: {exc}")
                    self.state = "paused"
                    return

    def _lane_of(self, trainer: Trainer) -> Lane:
        for lane in self.lanes:
            if lane.trainer is trainer:
                return lane
        raise KeyError("trainer without a lane")

    def advance(self, seconds: float = CHUNK_SECONDS) -> int:
        """Train about `seconds` worth of iterations if running (or fitting); returns iterations
        done per lane (0 when paused or held back by the speed limit)."""
        if self.state == "paused":
            return 0
        if self.slow_motion is not None and self.state == "running":
            now = time.perf_counter()
            if now - self._last_phase < 1.0 / self.slow_motion:
                return 0
            self._last_phase = now
            self._phase(None)
            return 1
        n = max(1, min(2000, int(seconds / self._seconds_per_iteration)))
        if self.max_rate is not None:
            t0, it0 = self._rate_origin
            due = int(self.max_rate * (time.perf_counter() - t0)) - (self._iteration() - it0)
            if due <= 0:
                return 0
            n = min(n, due)
        if self.state == "fitting":
            fits = [lane.fit for lane in self.lanes if lane.fit is not None]
            n = min([n, *(fit.due for fit in fits)])
        start = time.perf_counter()
        if n > 0:
            self._train(n)
        elapsed = time.perf_counter() - start
        if n > 0:
            self._seconds_per_iteration = 0.8 * self._seconds_per_iteration + 0.2 * (elapsed / n)
        if self.state == "fitting":
            self._advance_fits(n)
        return n

    def _advance_fits(self, n: int) -> None:
        results = []
        for lane in self.lanes:
            fit = lane.fit
            if fit is None:
                continue
            fit.trained(n)
            if fit.due > 0:
                continue
            try:
                done = fit.check(views=True)
            except NonFiniteError as exc:
                self._diverged(lane, str(exc), exc)
                lane.fit = None
                continue
            self._record(lane, fit.last, views=True)
            if done:
                results.append((lane, fit.last.metrics if fit.last else {}))
                lane.fit = None
        for lane, metrics in results:
            lane.message = fit_message(metrics, lane.cfg, lane.trainer.task.bound_cells_gap)
            self.notice(lane.message if len(self.lanes) == 1 else f"lane {lane.id}: {lane.message}")
        if all(lane.fit is None for lane in self.lanes):
            self.state = "paused"

    # --- measuring ------------------------------------------------------------------------------
    def _measure(self, lane: Lane, views: bool) -> dict[str, float] | None:
        if lane.state == "diverged":
            return None
        try:
            ev = lane.trainer.evaluate(views=views)
        except NonFiniteError as exc:
            self._diverged(lane, str(exc), exc)
            return None
        return self._record(lane, ev, views)

    def _record(self, lane: Lane, ev, views: bool) -> dict[str, float]:
        row = {"step": lane.trainer.iteration, **ev.metrics}
        lane.log.append(row)
        lane.measured_at = lane.trainer.iteration
        if views:
            lane.picture = ev.picture
            if saturation.applies(lane.cfg):  # with the picture only: the training step never pays for it
                if lane.saturation is None:
                    lane.saturation = saturation.SaturationLog()
                lane.saturation.add(lane.trainer)
        for listener in self.on_row:
            listener(lane, row)
        return row

    def measure(self, views: bool = False) -> None:
        """Measure every lane now (a row each in its history and for the on_row listeners)."""
        for lane in self.lanes:
            self._measure(lane, views)

    def _diverged(self, lane: Lane, text: str, exc: Exception | None = None) -> None:
        lane.state = "diverged"
        lane.diverged_by = exc
        lane.message = text
        if lane.fit is not None:
            lane.fit.finish()
            lane.fit = None
        self.notice(text if len(self.lanes) == 1 else f"lane {lane.id}: {text}")
        if all(l.state == "diverged" for l in self.lanes):
            self.state = "paused"

    def publish(self, budget: float = 0.0) -> Frame:
        """Measure the lanes that trained since their last measurement (round robin, at least one,
        then as many as fit in `budget` seconds) and return the Frame."""
        start = time.perf_counter()
        stale = [lane for lane in self.lanes if lane.state == "ok" and lane.measured_at != lane.trainer.iteration]
        if stale:
            stale.sort(key=lambda lane: (self.lanes.index(lane) - self._cursor) % len(self.lanes))
            for i, lane in enumerate(stale):
                if i > 0 and time.perf_counter() - start >= budget:
                    break
                self._measure(lane, views=True)
                self._cursor = self.lanes.index(lane) + 1
        return self.frame()

    def frame(self) -> Frame:
        now = time.perf_counter()
        t0, it0, rate = self._speed
        it = self._iteration()
        if now - t0 >= 0.5:
            rate = (it - it0) / (now - t0) if self.state != "paused" else 0.0
            self._speed = (now, it, rate)
        keys = varying([lane.cfg for lane in self.lanes])
        lanes = tuple(LaneFrame(
            id=lane.id, label=lane_label(lane.cfg, keys), cfg=lane.cfg, iteration=lane.trainer.iteration,
            d_updates=lane.trainer.d_updates, g_updates=lane.trainer.g_updates, state=lane.state,
            metrics=lane.log.last(), history=lane.history(), picture=lane.picture, message=lane.message,
            phase=lane.phase, phase_kind=lane.phase_kind, ghost=lane.ghost,
            fit_spans=tuple((fit.start_iteration, fit.d_updates_done) for fit in lane.fits),
            diverged_kind="range" if isinstance(lane.diverged_by, OutOfRangeError) else
                          ("nan" if lane.state == "diverged" else ""),
            saturation=lane.saturation.frame(lane.cfg)
            if lane.saturation is not None and saturation.applies(lane.cfg) else None)
            for lane in self.lanes)
        mle_layer, mle_state = self._mle_layer()
        return Frame(mode=self.mode, state=self.state, lanes=lanes, target=self.lanes[0].trainer.task.describe(),
                     device=describe(self.device), steps_per_s=rate, message=self.message,
                     generation=self.generation, log=tuple(self.log),
                     mle_components=self.mle_components, mle_state=mle_state, mle=mle_layer)

    # --- headless runs --------------------------------------------------------------------------
    def run(self, steps: int, log_every: int, max_seconds: float | None = None,
            on_progress: Callable[[int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> str:
        """Train every lane `steps` more iterations, measuring each at multiples of `log_every` (and
        at the start unless that iteration is measured already, and at the end). Returns why it
        stopped: done | time | diverged | stopped."""
        start = time.perf_counter()
        for lane in self.lanes:
            if lane.measured_at != lane.trainer.iteration or not len(lane.log):
                self._measure(lane, views=False)
        first = self._iteration()
        target = first + steps
        self.state = "running"
        try:
            while True:
                active = [lane for lane in self.lanes if lane.state == "ok"]
                if not active:
                    return "diverged"
                it = min(lane.trainer.iteration for lane in active)
                if it >= target:
                    return "done"
                n = min(log_every - it % log_every, target - it)
                if max_seconds is not None:  # look at the clock about once a second, not only at each row
                    done, spent = it - first, time.perf_counter() - start
                    n = min(n, max(1, int(done / spent)) if done > 0 and spent > 0 else 1)
                self._train(n)
                if self.state != "running":  # a training error paused it
                    return "diverged"
                if on_progress is not None:
                    on_progress(n)
                for lane in active:
                    i = lane.trainer.iteration
                    if i % log_every == 0 or i >= target:
                        self._measure(lane, views=False)
                if max_seconds is not None and time.perf_counter() - start >= max_seconds:
                    for lane in self.lanes:
                        if lane.measured_at != lane.trainer.iteration:
                            self._measure(lane, views=False)
                    return "time"
                if should_stop is not None and should_stop():
                    return "stopped"
        finally:
            self.state = "paused"

    # --- messages -------------------------------------------------------------------------------
    def notice(self, text: str) -> None:
        self.message = text
        self._log(LogEntry(time.time(), text))

    def error(self, text: str) -> None:
        """An error for the user, kept with the traceback of the exception being handled (if any)."""
        self.message = text
        tb = traceback.format_exc()
        self._log(LogEntry(time.time(), text, "" if tb.startswith("NoneType: None") else tb))

    def _log(self, entry: LogEntry) -> None:
        self.log.append(entry)
        del self.log[:-LOG_LIMIT]

    # --- saving and loading ---------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Everything the lanes need to go on (see ganviz.core.checkpoint); atomic."""
        from ganviz.core.checkpoint import save_checkpoint

        self._sync_state()
        meta = {"mode": self.mode, "lanes": [{"id": lane.id, "cfg": dataclasses.asdict(lane.cfg),
                                               "state": lane.state, "message": lane.message}
                                              for lane in self.lanes],
                "device": self.device.type, "max_rate": self.max_rate}
        save_checkpoint(folder, meta, [_lane_state(lane) for lane in self.lanes])

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> "Session":
        """A paused session exactly as saved. Raises CheckpointError (or ConfigError) with a clear message."""
        from ganviz.core.checkpoint import CheckpointError, load_checkpoint

        meta, states = load_checkpoint(folder)
        try:
            entries = meta["lanes"]
            cfgs = [_cfg_from_dict(entry["cfg"], device) for entry in entries]
            if len(states) != len(cfgs):
                raise ValueError("the number of lane files does not match the manifest")
            cfgs = [_model_of_older_run(cfg, state) for cfg, state in zip(cfgs, states)]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{folder}: not a readable ganviz run ({exc})") from None
        session = cls(cfgs)
        session.max_rate = meta.get("max_rate")
        session._invalidate_groups()
        for lane, entry, state in zip(session.lanes, entries, states):
            try:
                _restore_lane(lane, state, session.device)
            except (KeyError, TypeError, ValueError, RuntimeError) as exc:
                raise CheckpointError(f"{folder}: lane {entry.get('id')} cannot be restored ({exc})") from None
            lane.id = int(entry.get("id", lane.id))
            lane.state = entry.get("state", "ok") if entry.get("state") in ("ok", "diverged") else "ok"
            lane.message = str(entry.get("message", ""))
        session._next_id = max(lane.id for lane in session.lanes) + 1
        for lane in session.lanes:
            if lane.state == "ok":
                try:
                    ev = lane.trainer.evaluate(views=True)
                    lane.picture = ev.picture
                except NonFiniteError as exc:
                    session._diverged(lane, str(exc))
            lane.measured_at = lane.trainer.iteration
        session.generation += 1
        return session


FIT_GAP = 0.05  # a fit whose lower bound stays more than this share below the JSD has not reached D*


def fit_message(metrics: dict[str, float], cfg: TrainConfig | None = None, cells_gap: float = 0.0) -> str:
    """What a finished Fit D* shows. `cells_gap`: the share by which the task's bound falls short of its JSD
    even with D = D*, where V(G, D) is measured on coarser cells than the JSD (2-D); only a gap beyond it
    and FIT_GAP says that D did not reach D*."""
    jsd, bound = metrics.get("jsd", math.nan), metrics.get("jsd_d", math.nan)
    if math.isfinite(jsd) and math.isfinite(bound):
        gap = abs(jsd - bound) / jsd * 100 if jsd > 0 else 0.0
        text = (f"Fit D* done: V(G,D) stopped rising; lower bound (V+log 4)/2 = {bound:.4f} vs JSD = {jsd:.4f} nats "
                f"(gap {gap:.1f}%)")
        if jsd > 1e-3 and (jsd - bound) > (FIT_GAP + cells_gap) * jsd:
            size = f" ({cfg.layers} hidden layers of {cfg.hidden})" if cfg is not None else ""
            fold = (" With 1-D noise G folds the line onto the modes, and p_G ∝ 1/|G′| has spikes where it turns."
                    if cfg is not None and cfg.noise_dim == 1 and cfg.mode == "1d" else "")
            text += (f". The bound stays {gap:.0f}% below the JSD: D did not reach D* = p_data/(p_data + p_G) — "
                     f"D{size} cannot represent D* where p_G has sharp features (e.g. the spikes a 1-D-noise G "
                     f"makes where it folds), so V(G,D) < V(G,D*).{fold} Try: more noise dimensions (p_G "
                     "smoother), a larger D (hidden 64–128), or Fit D* again after more training")
        elif bound < 0:
            text += ". The bound is negative: D is far from D*, so it says nothing yet"
        return text
    text = f"Fit D* done: V(G,D) = {metrics.get('v', math.nan):.4f} stopped rising"
    if cfg is not None and cfg.mode == "mnist":  # images have no density: say what the fit shows instead
        text += (f"; D is near D* = p_data/(p_data + p_G) on the digits: mean D(x) on real digits "
                 f"{metrics.get('d_real', math.nan):.2f}, on G's {metrics.get('d_fake', math.nan):.2f}. Images have "
                 "no density here, so there is no JSD for the bound to meet")
    return text


def _check_lane_changes(changes: dict[str, Any]) -> None:
    for key in changes:
        if key not in LIVE_SETTINGS and key not in LANE_SETTINGS:
            if key in SHARED_SETTINGS:
                raise ConfigError(f"--{key.replace('_', '-')}", "is shared by every lane (change it for all lanes)")
            raise ConfigError(f"--{key.replace('_', '-')}", "not a setting of a lane")


def _check_shared(cfgs: list[TrainConfig]) -> None:
    for key in SHARED_SETTINGS:
        if len({repr(getattr(c, key)) for c in cfgs}) > 1:
            raise ConfigError(f"--{key.replace('_', '-')}", "must be the same for every lane")


def _cfg_from_dict(data: dict, device: str | None) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in data.items() if k in names})
    if device is not None:
        cfg = dataclasses.replace(cfg, device=device)
    cfg.validate()
    return cfg


def _model_of_older_run(cfg: TrainConfig, state: dict) -> TrainConfig:
    """The config of a run saved before --arch, with the model it trained named. Such an image-mode
    config names no model, and its model was the DCGAN now called conv-legacy; a config saved since
    without --arch trained the default, conv. The saved weights tell them apart: conv's G (and mlp's)
    keeps the average of its weights (keys average.*), conv-legacy's does not."""
    if modes.LEGACY_ARCH not in modes.REGISTRY[cfg.mode].extra.get("arch_presets", {}) or "arch" in cfg.extra:
        return cfg
    if any(str(key).startswith("average.") for key in state.get("G", {})):
        return cfg
    return cfg.replace(extra={**cfg.extra, "arch": modes.LEGACY_ARCH})


def _copied(state: dict) -> dict:
    """A module's state_dict, detached from training: tensors cloned, a module's extra state (plain
    values, e.g. the image D's count of shifts drawn) deep-copied."""
    return {k: v.detach().clone() if torch.is_tensor(v) else copy.deepcopy(v) for k, v in state.items()}


def _lane_state(lane: Lane) -> dict:
    t = lane.trainer
    history = lane.log.copy()
    return {
        "G": _copied(t.G.state_dict()),
        "D": _copied(t.D.state_dict()),
        "opt_d": t.opt_d.state_dict(),
        "opt_g": t.opt_g.state_dict(),
        "gen": t.gen.get_state(),
        "gen_device": t.gen.device.type,
        "iteration": t.iteration, "d_updates": t.d_updates, "g_updates": t.g_updates,
        "d_loss_sum": float(t._d_loss_sum), "g_loss_sum": float(t._g_loss_sum),
        "d_count": t._d_count, "g_count": t._g_count,
        "history": {name: torch.from_numpy(np.ascontiguousarray(col)) for name, col in history.items()},
    }


def _restore_lane(lane: Lane, state: dict, device: torch.device) -> None:
    t = lane.trainer
    for name, module in (("G", t.G), ("D", t.D)):
        expected, saved = set(module.state_dict()), set(state[name])
        if expected != saved:  # load_state_dict would say so in a page of key names
            arch = getattr(t.task, "arch", None)
            model = f"the {arch} model" if arch else "the model"
            raise ValueError(f"its {name} does not fit {model} of this version of ganviz ({len(saved - expected)} "
                             f"saved weights it does not have, {len(expected - saved)} missing): it was saved by an "
                             "earlier version; start the run again")
        module.load_state_dict(state[name])
    t.opt_d.load_state_dict(state["opt_d"])
    t.opt_g.load_state_dict(state["opt_g"])
    t._apply_rates()
    if state.get("gen_device", "cpu") == t.gen.device.type:
        t.gen.set_state(state["gen"])
    t.iteration, t.d_updates, t.g_updates = int(state["iteration"]), int(state["d_updates"]), int(state["g_updates"])
    t._d_loss_sum.fill_(float(state["d_loss_sum"]))
    t._g_loss_sum.fill_(float(state["g_loss_sum"]))
    t._d_count, t._g_count = int(state["d_count"]), int(state["g_count"])
    history = state["history"]
    columns = lane.log.columns
    n = len(history.get("step", []))
    for i in range(n):
        lane.log.append({name: float(history[name][i]) for name in columns if name in history})
