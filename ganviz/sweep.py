"""`ganviz sweep`: train a grid of settings as lanes of one Session, then write each lane's files,
a summary.csv and a compare.png."""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import sys
from pathlib import Path

import numpy as np

from ganviz.core import modes
from ganviz.core.config import LOSS_PRESETS, ConfigError, TrainConfig
from ganviz.core.session import LANE_SETTINGS, LIVE_SETTINGS, SHARED_SETTINGS, lane_label, varying

GRID_KEYS = (*LIVE_SETTINGS, *LANE_SETTINGS)
MAX_LANES = 4096
BASE_BYTES = 400 << 20            # the interpreter, torch, Qt for the PNGs
HISTORY_BYTES = 20000 * 12 * 8    # a lane's metric history at its bound
TASK_BYTES = {"1d": 2 << 20, "2d": 8 << 20, "mnist": 96 << 20}  # a task's grids and caches (one per seed)


def add_sweep_parser(sub) -> argparse.ArgumentParser:
    from ganviz.cli import add_run_options

    sweep = sub.add_parser(
        "sweep", help="train a grid of settings side by side; write each run, summary.csv and compare.png",
        description="Train every combination of the --grid values (and --seeds) as lanes of one session "
                    "(lanes of one architecture train in one batched step). Writes DIR/<lane>/{metrics.csv,"
                    "config.json,final.png} (the files of `ganviz train`; <lane> names the settings that vary, "
                    "e.g. k=5_lr_d=0.001_seed=0), DIR/summary.csv (per lane: the varying settings, final and "
                    "best value of each of the mode's headline metrics, the first iteration below the mode's "
                    "convergence threshold), DIR/compare.png (the first headline metric over iterations, one "
                    "curve per lane) and DIR/checkpoint. Other options set every lane.")
    add_run_options(sweep)
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,…",
                       help="a per-lane setting and its values, e.g. k=1,5 or lr_d=1e-4,1e-3 or "
                            f"loss=minimax,nonsaturating; keys: {', '.join(GRID_KEYS)}. Repeat for more keys")
    sweep.add_argument("--seeds", help="seeds of every combination: a range 0-4 or a list 0,2,7")
    sweep.add_argument("--out", required=True, help="output directory (created if missing)")
    sweep.add_argument("--overwrite", action="store_true", help="replace the sweep already in --out")
    return sweep


# --- the grid ---------------------------------------------------------------------------------------
def parse_grid(specs: list[str], seeds: str | None, base: TrainConfig, given: set[str]) -> list[dict]:
    """The cartesian product of the --grid values (and --seeds) as a list of per-lane changes.
    Every value is validated; errors are ConfigError naming the option."""
    axes: dict[str, list] = {}
    for spec in specs:
        if "=" not in spec:
            raise ConfigError("--grid", f"{spec!r} is not KEY=V1,V2,… (e.g. k=1,5)")
        raw_key, raw_values = spec.split("=", 1)
        key = raw_key.strip().replace("-", "_")
        if key not in GRID_KEYS:
            if key in SHARED_SETTINGS or key in ("steps", "log_every", "max_minutes", "grid_every"):
                raise ConfigError("--grid", f"{raw_key.strip()!r} is shared by every lane; give it as "
                                            f"--{key.replace('_', '-')} instead")
            raise ConfigError("--grid", f"unknown key {raw_key.strip()!r}; choose one of {', '.join(GRID_KEYS)}")
        if key in axes:
            raise ConfigError("--grid", f"{key} is given twice")
        if key in given:
            raise ConfigError("--grid", f"{key} is also given as --{key.replace('_', '-')}")
        texts = [v.strip() for v in raw_values.split(",")]
        if not raw_values.strip() or any(not t for t in texts):
            raise ConfigError("--grid", f"{key}: empty value in {raw_values!r}")
        values = [_convert(key, t, base) for t in texts]
        if len(set(map(repr, values))) != len(values):
            raise ConfigError("--grid", f"{key}: a value is repeated in {raw_values!r}")
        axes[key] = values
    if seeds is not None:
        if "seed" in axes:
            raise ConfigError("--seeds", "seeds are also given as --grid seed=…")
        if "seed" in given:
            raise ConfigError("--seeds", "cannot be given with --seed")
        axes["seed"] = parse_seeds(seeds, base)
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def _convert(key: str, text: str, base: TrainConfig):
    kind = type(getattr(base, key))
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            value = text.lower() in ("true", "1", "yes")
        elif kind is int:
            value = int(text)
        elif kind is float:
            value = float(text)
        else:
            value = text
    except ValueError:
        raise ConfigError("--grid", f"{key}: {text!r} is not a {kind.__name__}") from None
    try:
        base.replace(**{key: value})
    except ConfigError as exc:
        raise ConfigError("--grid", f"{key}={text}: {exc.message}") from None
    return value


def parse_seeds(text: str, base: TrainConfig) -> list[int]:
    text = text.strip()
    try:
        if re.fullmatch(r"\d+\s*-\s*\d+", text):
            lo, hi = (int(p) for p in text.split("-"))
            if hi < lo:
                raise ConfigError("--seeds", f"empty range {text!r}")
            if hi - lo >= MAX_LANES:
                raise ConfigError("--seeds", f"{hi - lo + 1} seeds is more than the {MAX_LANES} lanes a sweep can hold")
            seeds = list(range(lo, hi + 1))
        else:
            parts = [p.strip() for p in text.split(",")]
            if not text or any(not p for p in parts):
                raise ValueError(text)
            seeds = [int(p) for p in parts]
    except ValueError:
        raise ConfigError("--seeds", f"{text!r} is not a range (0-4) or a list (0,2,7) of seeds") from None
    if len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds", f"a seed is repeated in {text!r}")
    for seed in seeds:
        try:
            base.replace(seed=seed)
        except ConfigError as exc:
            raise ConfigError("--seeds", exc.message) from None
    return seeds


def lane_folder(cfg: TrainConfig, keys: list[str]) -> str:
    """A filesystem-safe folder name from the varying settings, e.g. k=5_lr_d=0.001_seed=0."""
    parts = []
    for key in keys:
        value = getattr(cfg, key)
        text = repr(value) if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"{key}={text}")
    name = "_".join(parts)
    return re.sub(r"[^A-Za-z0-9._=+-]", "-", name)[:200]


# --- memory -------------------------------------------------------------------------------------------
def available_memory() -> int | None:
    """Bytes of memory available to new allocations, or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def lane_bytes(cfg: TrainConfig) -> int:
    """A generous estimate of one lane's memory: weights with gradients and Adam's two moments
    (stacked once more in a batched group), activations of a step, its history and its task."""
    h, layers, z = cfg.hidden, cfg.layers, cfg.noise_dim
    if cfg.mode == "mnist":
        data_dim = 28 * 28
        params = 2 * (z * 7 * 7 * 2 * h + 9 * 2 * h * h * 4 + 9 * h * 8 + 7 * 7 * 2 * h)
        activations = cfg.batch * (28 * 28 * h * 6) * 4 * 4
    else:
        data_dim = 1 if cfg.mode == "1d" else 2
        mlp = lambda n_in, n_out: (n_in + 1) * h + (layers - 1) * (h + 1) * h + (h + 1) * n_out  # noqa: E731
        params = mlp(z, data_dim) + mlp(data_dim, 1)
        activations = cfg.batch * h * layers * 4 * 12 * cfg.k
    weights = params * 4 * 6
    task = TASK_BYTES.get(cfg.mode, 8 << 20)
    return int(weights + activations + HISTORY_BYTES + task)


def check_memory(cfgs: list[TrainConfig], available: int | None = None) -> None:
    """Refuse a grid of more lanes than fit (or one run's model that cannot), before building anything."""
    if len(cfgs) > MAX_LANES:
        raise ConfigError("--grid", f"{len(cfgs)} lanes is more than the {MAX_LANES} a sweep can hold")
    need = BASE_BYTES + sum(lane_bytes(c) for c in cfgs)
    have = available_memory() if available is None else available
    if have is not None and need > 0.8 * have:
        if len(cfgs) == 1:  # `ganviz train`: the model's size is what does not fit (qa case 15)
            raise ConfigError("--hidden", f"this model needs about {_size(need)} of memory, but {_size(have)} is "
                                          "available; choose a smaller --hidden (or --batch)")
        raise ConfigError("--grid", f"{len(cfgs)} lanes need about {_size(need)} of memory, but "
                                    f"{_size(have)} is available; sweep fewer lanes or smaller models")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# --- the command ----------------------------------------------------------------------------------------
def sweep_command(args: argparse.Namespace) -> int:
    from ganviz.cli import TRAIN_FIELDS, build_session, config_from_args, fail, prepare_session
    from ganviz.headless import LaneOut, config_json, drive, progress_bar
    from ganviz.runfiles import (CHECKPOINT, CsvRows, OutLock, atomic_write_text, check_out_dir, check_targets,
                                 clear_run, out_path, qt_unavailable, reason)

    given = {name for name in TRAIN_FIELDS if getattr(args, name) is not None}
    try:
        out = out_path(args.out)
        base = config_from_args(args)
        if not args.grid and args.seeds is None:
            raise ConfigError("--grid", "give at least one --grid KEY=V1,V2,… (or --seeds)")
        changes = parse_grid(args.grid, args.seeds, base, given)
        # A lane whose loss the grid sets gets that loss's settings (k, Adam betas…) unless given.
        cfgs = [base.with_loss(c["loss"], **{k: v for k, v in c.items() if k != "loss"},
                               **{k: getattr(base, k) for k in given if k in LOSS_PRESETS.get(c["loss"], {})})
                if "loss" in c else base.replace(**c) for c in changes]
        keys = varying(cfgs) or list(changes[0])
        names = [lane_folder(c, keys) or f"lane-{i}" for i, c in enumerate(cfgs)]
        if len(set(names)) != len(names):
            names = [f"{i:03d}_{n}" for i, n in enumerate(names)]
        check_memory(cfgs)
        check_out_dir(out)
        if (out / "summary.csv").exists() or (out / CHECKPOINT).exists() or any(
                (out / n / "metrics.csv").exists() or (out / n / "config.json").exists() for n in names):
            if not args.overwrite:
                raise ConfigError("--out", f"{out} already holds a sweep; replace it with --overwrite")
        check_targets(out, ("summary.csv", "compare.png"))
        for n in names:
            if (out / n).exists() and not (out / n).is_dir():
                raise ConfigError("--out", f"{out / n} is a file; the sweep writes a lane's folder there")
            check_targets(out / n)
        session = build_session(cfgs)
    except ConfigError as exc:
        return fail(str(exc))
    try:
        lock = OutLock.take(out)
    except ConfigError as exc:
        session.close()  # nothing was written; stop what the tasks started (e.g. the classifier)
        return fail(str(exc))
    try:
        prepare_session(session)
        outs: dict[int, LaneOut] = {}
        try:
            if args.overwrite:
                clear_run(out)
                for name in ("summary.csv", "compare.png"):
                    (out / name).unlink(missing_ok=True)
            for lane, name in zip(session.lanes, names):
                folder = out / name
                folder.mkdir(exist_ok=True)
                if args.overwrite:
                    clear_run(folder)
                atomic_write_text(folder / "config.json", config_json(session, lane))
                outs[lane.id] = LaneOut(folder, CsvRows(folder / "metrics.csv", lane.log.columns), base.grid_every)
        except OSError as exc:
            for o in outs.values():
                o.csv.close()
            return fail(f"--out: {reason(exc)}")
        print(f"ganviz sweep: {len(cfgs)} lanes ({', '.join(keys)}) in {len(session.groups())} training group(s), "
              f"{base.steps} iterations each", file=sys.stderr)
        outcome = drive(session, outs, base.steps, base.log_every,
                        None if base.max_minutes is None else 60 * base.max_minutes, out / CHECKPOINT,
                        progress_bar(base.steps))
        errors = list(outcome.errors)
        try:
            write_summary(session, names, keys, out / "summary.csv")
            if qt_unavailable():  # drive() has said why final.png was skipped; compare.png needs Qt too
                print("ganviz: notice: compare.png skipped as well (summary.csv has the figures)", file=sys.stderr)
            else:
                write_compare(session, keys, out / "compare.png")
        except Exception as exc:
            errors.append(f"the summary could not be written: {reason(exc)}")
            outcome.status = outcome.status or 1
        for error in errors:
            print(f"ganviz: error: {error}", file=sys.stderr)
        it = max(lane.trainer.iteration for lane in session.lanes)
        rate = it * len(session.lanes) / outcome.seconds if outcome.seconds > 0 else math.nan
        print(f"{outcome.why}: {len(session.lanes)} lanes × {it} iterations in {outcome.seconds:.1f} s "
              f"({rate:,.0f} lane-it/s) on {session.frame().device} -> {out}", file=sys.stderr)
        return outcome.status
    finally:
        lock.release()
        session.close()


def headlines(mode: str, logged: tuple[str, ...] | None = None) -> list:
    """The mode's headline metrics that the lanes log (`logged`: their columns; modes and hq are
    not logged for a target without modes, so summary.csv leaves them out rather than empty)."""
    return [h for h in modes.spec(mode).headlines if logged is None or h.column in logged]


def summary_columns(mode: str, keys: list[str], logged: tuple[str, ...] | None = None) -> list[str]:
    spec = modes.spec(mode)
    cols = ["lane", *keys]
    for h in headlines(mode, logged):
        cols += [f"final_{h.column}", f"best_{h.column}"]
    if spec.converged is not None:
        column, threshold = spec.converged
        cols.append(f"first_below_{column}_{threshold:g}")
    cols.append("state")
    return cols


def write_summary(session, names: list[str], keys: list[str], path: Path) -> None:
    """One row per lane: its folder, the varying settings, final and best of each headline metric,
    the first iteration below the convergence threshold (empty when never), and its state."""
    from ganviz.runfiles import atomic_write_bytes, csv_line
    from ganviz.core.metrics_log import _cell

    spec = modes.spec(session.mode)
    logged = session.lanes[0].log.columns  # the lanes share the target, so its columns
    lines = [csv_line(summary_columns(session.mode, keys, logged))]
    for lane, name in zip(session.lanes, names):
        history = lane.log.copy()
        row: list = [name, *(_setting(getattr(lane.cfg, k)) for k in keys)]
        for h in headlines(session.mode, logged):
            values = history.get(h.column, np.array([]))
            finite = values[np.isfinite(values)]
            final = finite[-1] if len(finite) else math.nan
            best = (finite.min() if h.lower_is_better else finite.max()) if len(finite) else math.nan
            row += [_cell(float(final)), _cell(float(best))]
        if spec.converged is not None:
            column, threshold = spec.converged
            values, steps = history.get(column, np.array([])), history["step"]
            below = np.flatnonzero(np.nan_to_num(values, nan=math.inf) < threshold)
            row.append(str(int(steps[below[0]])) if len(below) else "")
        row.append(lane.state)
        lines.append(csv_line(row))
    atomic_write_bytes(path, b"".join(lines))


def _setting(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def write_compare(session, keys: list[str], path: Path) -> None:
    from ganviz.runfiles import atomic_save
    from ganviz.ui.compare_png import save_compare_png

    headline = modes.spec(session.mode).headlines[0]
    curves = []
    for lane in session.lanes:
        history = lane.log.copy()
        curves.append((lane_label(lane.cfg, keys) or f"lane {lane.id}", history["step"],
                       history.get(headline.column, np.full(len(history["step"]), np.nan))))
    atomic_save(path, lambda tmp: save_compare_png(curves, "iteration", headline.label, tmp))

