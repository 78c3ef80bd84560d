"""The one validated configuration type of a ganviz run, shared by the CLI, the window and the trainer."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganviz.core.modes import MODES, REGISTRY

LOSSES = ("minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp", "hinge")
# The settings each loss needs to train (THEORY.md §8), applied when a loss is picked unless the
# user sets them too: WGAN-GP as in Gulrajani et al. (2017) (k = 5, Adam β = (0, 0.9), 1e-4),
# clipped WGAN with the critic trained 5× per G step and Adam without momentum, hinge with G slower
# than D (at equal rates P_G circles the target; measured on the 1-D targets, see README).
LOSS_PRESETS: dict[str, dict[str, Any]] = {
    "minimax": dict(k=1, beta1=0.5, beta2=0.999),
    "nonsaturating": dict(k=1, beta1=0.5, beta2=0.999),
    "lsgan": dict(k=1, beta1=0.5, beta2=0.999),
    "wgan": dict(k=5, beta1=0.0, beta2=0.9),
    "wgan-gp": dict(k=5, beta1=0.0, beta2=0.9, lr_d=1e-4, lr_g=1e-4),
    "hinge": dict(k=1, beta1=0.5, beta2=0.999, lr_g=1e-4),
}
OPTIMIZERS = ("adam", "sgd")
NOISES = ("gaussian", "uniform")
DEVICES = ("auto", "cpu", "cuda", "mps")

K_MIN, K_MAX = 1, 20
LR_MIN, LR_MAX = 1e-5, 1.0


class ConfigError(ValueError):
    """A setting that cannot be used; `option` names it the way the CLI spells it."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


# Per-mode defaults live in the mode registry: each mode has model sizes and rates that work for it.
MODE_DEFAULTS: dict[str, dict[str, Any]] = {key: dict(m.defaults) for key, m in REGISTRY.items()}


@dataclass
class TrainConfig:
    """Every setting of a run; `config.json` holds exactly these fields so a run can be repeated."""

    mode: str = "1d"
    dataset: str = "bimodal"
    steps: int = 3000
    k: int = 1
    k_g: int = 1                   # generator updates per iteration (GAN Lab's counterpart of k)
    lr_d: float = 3e-4
    lr_g: float = 3e-4
    loss: str = "nonsaturating"
    batch: int = 256
    hidden: int = 32
    layers: int = 2
    noise_dim: int = 8
    noise: str = "gaussian"
    optimizer: str = "adam"
    beta1: float = 0.5             # Adam's β1: 0.5 is the DCGAN setting; 0.9 makes GAN training oscillate more
    beta2: float = 0.999
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    freeze_g: bool = False
    d_oracle: bool = False         # G against the exact D* = p_data/(p_data + p_G) of the grid estimate (THEORY.md §7)
    max_minutes: float | None = None
    spread: float = 1.0            # 2-D: multiplies the σ of mixture targets
    data_dir: str | None = None    # MNIST: folder with IDX files
    grid_every: int | None = None  # MNIST: write a sample grid every N steps
    extra: dict[str, Any] = field(default_factory=dict)  # mode-specific settings (e.g. user points)

    @classmethod
    def for_mode(cls, mode: str = "1d", **overrides: Any) -> "TrainConfig":
        """The defaults of `mode`, with `overrides` (None values are ignored) applied and validated."""
        if mode not in MODES:
            raise ConfigError("--mode", f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        values: dict[str, Any] = dict(MODE_DEFAULTS[mode])
        given = {key: val for key, val in overrides.items() if val is not None}
        arch = given.get("extra", {}).get("arch") if isinstance(given.get("extra"), dict) else None
        values.update(REGISTRY[mode].extra.get("arch_presets", {}).get(arch, {}))
        if given.get("loss") not in (None, "nonsaturating") and REGISTRY[mode].extra.get("loss_presets", True):
            values.update(LOSS_PRESETS.get(given["loss"], {}))
        values.update(given)
        values["mode"] = mode
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError("--" + sorted(unknown)[0].replace("_", "-"), "unknown setting")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def with_loss(self, loss: str, **given: Any) -> "TrainConfig":
        """This config with `loss` and the settings it needs (LOSS_PRESETS), except those in `given`."""
        presets = LOSS_PRESETS.get(loss, {}) if REGISTRY[self.mode].extra.get("loss_presets", True) else {}
        preset = {key: val for key, val in presets.items() if key not in given}
        return self.replace(loss=loss, **preset, **given)

    def defaults(self) -> "TrainConfig":
        """The defaults of this config's mode, and of its model where the mode has several (--arch):
        what `ganviz train --mode M [--arch A]` gives without other flags."""
        arch = self.extra.get("arch") if REGISTRY[self.mode].extra.get("arch_presets") else None
        return TrainConfig.for_mode(self.mode, extra={"arch": arch} if arch else None)

    def with_arch(self, arch: str, **given: Any) -> "TrainConfig":
        """This image-mode config with the model `arch` and the settings it trains with (the registry's
        arch_presets), except those in `given`."""
        presets = REGISTRY[self.mode].extra.get("arch_presets", {})
        if arch not in presets:
            raise ConfigError("--arch", f"must be one of {', '.join(presets) or '(none in this mode)'} (got {arch!r})")
        preset = {key: val for key, val in presets[arch].items() if key not in given}
        return self.replace(extra={**self.extra, "arch": arch}, **preset, **given)

    def replace(self, **changes: Any) -> "TrainConfig":
        cfg = dataclasses.replace(self, **changes)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ConfigError naming the first unusable setting."""
        if self.mode not in MODES:
            raise ConfigError("--mode", f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        _check_int("--steps", self.steps, 0)
        _check_int("--k", self.k, K_MIN, K_MAX)
        _check_int("--k-g", self.k_g, K_MIN, K_MAX)
        _check_lr("--lr-d", self.lr_d)
        _check_lr("--lr-g", self.lr_g)
        _check_choice("--loss", self.loss, LOSSES)
        _check_int("--batch", self.batch, 1, 1 << 20)
        _check_int("--hidden", self.hidden, 1, 1 << 14)
        _check_int("--layers", self.layers, 1, 16)
        _check_int("--noise-dim", self.noise_dim, 1, 1024)
        _check_choice("--noise", self.noise, NOISES)
        _check_choice("--optimizer", self.optimizer, OPTIMIZERS)
        for option, beta in (("--beta1", self.beta1), ("--beta2", self.beta2)):
            if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
                raise ConfigError(option, f"must be a number in [0, 1) (got {beta!r})")
        _check_int("--seed", self.seed, 0, 2**63 - 1)
        _check_choice("--device", self.device, DEVICES)
        _check_int("--log-every", self.log_every, 1)
        _check_d_oracle(self)
        if self.max_minutes is not None:
            _check_positive("--max-minutes", self.max_minutes)
        _check_positive("--spread", self.spread)
        if self.grid_every is not None:
            _check_int("--grid-every", self.grid_every, 1)
            if self.grid_every % self.log_every:  # grids are drawn at measured steps: others would be skipped
                raise ConfigError("--grid-every", f"must be a multiple of --log-every (got --grid-every "
                                  f"{self.grid_every} with --log-every {self.log_every}: the grids between "
                                  f"measured steps would be skipped); e.g. --grid-every "
                                  f"{max(1, self.grid_every // self.log_every) * self.log_every}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError("--dataset", "must name a dataset")
        from ganviz.core import dirac  # the Dirac-GAN's settings (in extra): refused in other modes

        dirac.validate(self)
        self._validate_arch()

    def _validate_arch(self) -> None:
        """extra["arch"] (--arch) names one of the image mode's models, and only in that mode."""
        archs = REGISTRY[self.mode].extra.get("arch_presets", {})
        arch = self.extra.get("arch") if isinstance(self.extra, dict) else None
        if arch is None:
            return
        if not archs:
            modes_ = [key for key, m in REGISTRY.items() if m.extra.get("arch_presets")]
            raise ConfigError("--arch", f"applies only to --mode {' or '.join(modes_)}")
        if arch not in archs:
            raise ConfigError("--arch", f"must be one of {', '.join(archs)} (got {arch!r})")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        cfg = cls(**{key: val for key, val in data.items() if key in names})
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


ORACLE_MODES = ("1d", "2d")  # the modes whose densities are known on a grid, so D* is too


def _check_d_oracle(cfg: "TrainConfig") -> None:
    """G against the exact D* needs D* on a grid (the toy modes) and the vanilla D it replaces."""
    if not isinstance(cfg.d_oracle, bool):
        raise ConfigError("--d-oracle", f"must be true or false (got {cfg.d_oracle!r})")
    if not cfg.d_oracle:
        return
    if cfg.mode not in ORACLE_MODES:
        raise ConfigError("--d-oracle", f"applies only to --mode 1d or 2d, where p_data and p_G are known on a grid "
                                        f"(not {cfg.mode})")
    if cfg.loss not in ("minimax", "nonsaturating"):
        raise ConfigError("--d-oracle", "needs the minimax or non-saturating loss: D* = p_data/(p_data + p_G) is "
                                        f"the optimum of their D, not of {cfg.loss}'s")


def _check_int(option: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(option, f"must be an integer (got {value!r})")
    if value < lo or (hi is not None and value > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(option, f"must be {bounds} (got {value})")


def _check_positive(option: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(option, f"must be a positive finite number (got {value!r})")


def _check_lr(option: str, value: Any) -> None:
    _check_positive(option, value)
    if value > LR_MAX:
        raise ConfigError(option, f"must be at most {LR_MAX:g} (got {value!r})")


def _check_choice(option: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(option, f"must be one of {', '.join(choices)} (got {value!r})")
