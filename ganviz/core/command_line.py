"""The `ganviz train …` / `ganviz sweep …` line that reproduces a lane or a set of lanes ("Copy command")."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import Any

from ganviz.core.config import TrainConfig

# TrainConfig fields in the order `ganviz train` lists its flags; mode, dataset, seed and steps always go.
FLAGS = ("mode", "dataset", "steps", "k", "k_g", "lr_d", "lr_g", "loss", "batch", "hidden", "layers", "noise_dim",
         "noise", "optimizer", "beta1", "beta2", "seed", "device", "log_every", "freeze_g", "d_oracle", "max_minutes", "spread", "data_dir",
         "grid_every")
ALWAYS = ("mode", "dataset", "seed", "steps")
NOT_ON_THE_LINE = "  # a drawn target cannot be given on the command line"


def value_text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)  # exact: the same float comes back
    return str(value)


def _flag(key: str) -> str:
    return "--data" if key == "data_dir" else "--" + key.replace("_", "-")  # --data-dir is its old alias


def _options(cfg: TrainConfig, skip: tuple[str, ...] = ()) -> list[str]:
    """Flags for every setting of `cfg` that differs from its mode's defaults (and mode, dataset, seed, steps)."""
    defaults = cfg.defaults()
    parts: list[str] = []
    for key in FLAGS:
        if key in skip:
            continue
        value = getattr(cfg, key)
        if key not in ALWAYS and value == getattr(defaults, key):
            continue
        if key in ("freeze_g", "d_oracle"):  # switches: the flag alone
            if value:
                parts.append(_flag(key))
            continue
        if value is None:
            continue
        parts += [_flag(key), shlex.quote(value_text(value))]
    return parts + _extra_flags(cfg)


def _extra_flags(cfg: TrainConfig) -> list[str]:
    """The Dirac-GAN's settings (kept in extra) that differ from its defaults, and the image mode's
    model (--arch, given whenever set: it brings its own settings), as their flags."""
    if cfg.mode == "mnist" and cfg.extra.get("arch"):
        return ["--arch", shlex.quote(cfg.extra["arch"])]
    if cfg.mode != "dirac":
        return []
    from ganviz.core.dirac import DEFAULTS, OPTIONS, settings

    s = settings(cfg.extra)
    return [part for key in OPTIONS if s[key] != DEFAULTS[key]
            for part in (OPTIONS[key], shlex.quote(value_text(s[key])))]


def _off_the_line(cfg: TrainConfig) -> bool:
    """extra holds something no flag gives (a drawn target)."""
    if cfg.mode == "dirac":
        return False
    return bool(set(cfg.extra) - ({"arch"} if cfg.mode == "mnist" else set()))


def run_name(cfg: TrainConfig, keys: list[str] | tuple[str, ...] = ()) -> str:
    """A folder name under runs/: mode, target and the settings that distinguish the run."""
    parts = [cfg.mode, Path(cfg.dataset).stem]
    if cfg.mode == "mnist" and cfg.extra.get("arch"):
        parts.append(cfg.extra["arch"])
    parts += [f"{key}{value_text(getattr(cfg, key))}" for key in keys]
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", "-".join(parts))


def _differing(cfg: TrainConfig) -> list[str]:
    defaults = cfg.defaults()
    return [key for key in FLAGS if key not in ALWAYS and key not in ("steps", "device", "log_every")
            and getattr(cfg, key) != getattr(defaults, key)]


def train_command(cfg: TrainConfig) -> str:
    """`ganviz train …` with every setting of `cfg` that differs from the mode's defaults."""
    line = " ".join(["ganviz", "train", *_options(cfg), "--out", shlex.quote("runs/" + run_name(cfg, _differing(cfg)))])
    return line + (NOT_ON_THE_LINE if _off_the_line(cfg) else "")


def _varying(cfgs: list[TrainConfig]) -> list[str]:
    return [key for key in FLAGS if len({getattr(c, key) for c in cfgs}) > 1]


def _seeds_text(seeds: list[int]) -> str | None:
    """'0-4' for a run of consecutive seeds, else None."""
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return None


def session_command(cfgs: list[TrainConfig]) -> str:
    """One `ganviz train` line for one lane; a `ganviz sweep` line when the lanes form a full grid
    over the settings that vary between them; else one train line per lane."""
    cfgs = list(cfgs)
    if len(cfgs) == 1:
        return train_command(cfgs[0])
    keys = _varying(cfgs)
    values = {key: sorted({getattr(c, key) for c in cfgs}, key=lambda v: (str(type(v)), v)) for key in keys}
    combos = [tuple(getattr(c, key) for key in keys) for c in cfgs]
    full_grid = (keys and "steps" not in keys and not any(_off_the_line(c) for c in cfgs)
                 and len(set(combos)) == len(cfgs) == len(list(itertools.product(*values.values()))))
    if not full_grid:
        return "\n".join(train_command(c) for c in cfgs)
    parts = ["ganviz", "sweep", *_options(cfgs[0], skip=tuple(keys))]
    for key in keys:
        seeds = _seeds_text(values[key]) if key == "seed" else None
        if seeds is not None:
            parts += ["--seeds", seeds]
        else:
            parts += ["--grid", shlex.quote(f"{key}=" + ",".join(value_text(v) for v in values[key]))]
    name = run_name(cfgs[0]) + "-sweep-" + "-".join(keys)
    parts += ["--out", shlex.quote("runs/" + re.sub(r"[^A-Za-z0-9._=-]+", "_", name))]
    return " ".join(parts)
