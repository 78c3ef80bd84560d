"""The one registry of ganviz's modes: what each mode is called, its defaults, its Task and its view.

Adding a mode is its new files (a Task subclass in the core, a view in ganviz.ui) plus one entry
in REGISTRY. Everything else (the CLI's --mode choices, the window's mode list, the defaults of
TrainConfig, the compare plots and sweep summaries) reads this table. Task and view are named as
"module:Class" strings so the core never imports Qt and a mode's dependencies load when it is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Headline:
    """A metric worth comparing across lanes: its metrics.csv column, a label, and whether lower is better."""

    column: str
    label: str
    lower_is_better: bool = True


@dataclass(frozen=True)
class ModeSpec:
    key: str
    label: str
    task: str                      # "module:Class" of the Task (Qt-free)
    view: str                      # "module:Class" of the window's lane view (Qt)
    defaults: dict[str, Any]       # TrainConfig values that differ from the dataclass defaults
    headlines: tuple[Headline, ...]  # first = the default quantity of compare plots and sweeps
    # (column, threshold): a run has converged once column is below threshold (first such iteration
    # goes in summary.csv); None where the mode has no such notion.
    converged: tuple[str, float] | None = None
    batchable: bool = True         # lanes of one architecture train in one batched step (MLP modes)
    extra: dict[str, Any] = field(default_factory=dict)


# The image mode's models (--arch, kept in extra["arch"]; ganviz.core.mnist.models builds them) and
# the settings each trains well with, applied when a model is picked unless the user sets them too.
# The first is the default. Measured on the bundled subset (README, MNIST mode):
# conv: DCGAN, a four-convolution D with an R1 penalty (models.R1_GAMMA) that sees shifted images,
# non-saturating loss, G's average shown; batch 32 at rates 4e-4 (the CPU computes as many images per
# second at batch 32 as at 64, so twice the updates; equal rates: with D 4× faster than G, "TTUR",
# the digits came more slowly); two G updates per iteration (k_G = 2, as DCGAN-tensorflow does "to
# make sure that d_loss does not go to zero"; with spectral normalisation in D it gave 7.0 at 400 s
# on one thread where k_G = 1 had 6.65; k_G = 3 and k = 2 were slower). R1 with the non-saturating
# loss gave 6.6 / FD 12 at 4,000 iterations, with the hinge loss 6.5 / 13;
# mlp: the original paper's fully connected networks; conv-legacy: the unregularised DCGAN, which
# plateaus at classifier score ~6 with malformed digits.
MNIST_ARCHS: dict[str, dict[str, Any]] = {
    "conv": dict(loss="nonsaturating", lr_d=4e-4, lr_g=4e-4, batch=32, hidden=32, layers=2, k_g=2),
    "mlp": dict(loss="nonsaturating", lr_d=2e-4, lr_g=2e-4, batch=64, hidden=256, layers=2, k_g=1),
    "conv-legacy": dict(loss="nonsaturating", lr_d=2e-4, lr_g=2e-4, batch=64, hidden=32, layers=2, k_g=1),
}
# What the image mode trained before --arch existed: a run saved then, whose config names no model,
# resumes as this one (Session.load).
LEGACY_ARCH = "conv-legacy"

REGISTRY: dict[str, ModeSpec] = {spec.key: spec for spec in (
    ModeSpec(
        key="1d", label="1-D toy",
        task="ganviz.core.toy1d:Toy1DTask", view="ganviz.ui.view1d:Lane1D",
        # 8-D noise, not 1-D: a 1-D z makes G fold the line onto each mode, which puts spikes
        # (p_G ∝ 1/|G'|) where G turns; D cannot see them and the JSD stalls at 0.1–0.2 nats.
        defaults=dict(dataset="bimodal", steps=3000, lr_d=3e-4, lr_g=3e-4, batch=256, hidden=32,
                      layers=2, noise_dim=8, log_every=50),
        headlines=(Headline("jsd", "JSD(P_data‖P_G) (nats)"), Headline("jsd_d", "(V+log 4)/2 (nats)"),
                   Headline("kl", "KL(P_data‖P_G) (nats)"), Headline("d_loss", "D loss"),
                   Headline("g_loss", "G loss")),
        converged=("jsd", 0.05)),
    ModeSpec(
        key="2d", label="2-D toy",
        task="ganviz.core.toy2d:Toy2DTask", view="ganviz.ui.view2d:Lane2D",
        # Seed 2: the default run shows the ring at once. Measured (one lane, defaults, ring8):
        # seed 2: 8 modes by iteration 1000, HQ 0.73 / JSD 0.19 at 2000, HQ 0.86 / JSD 0.17 at 4000;
        # seed 6: 8 modes by 1000, HQ 0.83 at 3000; seed 4: 8 by 1000, HQ 0.84 at 4000; seeds 1, 5, 7:
        # 7–8 modes by 2000–3000, HQ 0.63–0.76 at 4000; seeds 0 and 3: JSD ≈ log 2 with 0–1 modes
        # through 4000 (seed 0, the old default, looks stuck for ~6,000 iterations).
        defaults=dict(dataset="ring8", steps=10000, lr_d=3e-4, lr_g=3e-4, batch=256, hidden=64,
                      layers=3, noise_dim=2, log_every=100, seed=2),
        headlines=(Headline("jsd", "JSD(P_data‖P_G) (nats)"), Headline("modes", "modes covered", False),
                   Headline("hq", "high-quality share", False), Headline("jsd_d", "(V+log 4)/2 (nats)"),
                   Headline("d_loss", "D loss"), Headline("g_loss", "G loss")),
        converged=("jsd", 0.1)),
    ModeSpec(
        key="mnist", label="MNIST images",
        task="ganviz.core.mnist.task:MnistTask", view="ganviz.ui.view_mnist:LaneMnist",
        defaults=dict(dataset="mnist", steps=10000, **MNIST_ARCHS["conv"], noise_dim=64, log_every=100),
        headlines=(Headline("fd", "Fréchet distance"), Headline("score", "classifier score", False),
                   Headline("d_real", "mean D(x), real", False), Headline("d_fake", "mean D(G(z))", False),
                   Headline("d_loss", "D loss"), Headline("g_loss", "G loss")),
        converged=None, batchable=False, extra={"arch_presets": MNIST_ARCHS}),
    ModeSpec(
        key="dirac", label="Dirac-GAN",
        task="ganviz.core.dirac:DiracTask", view="ganviz.ui.view_dirac:LaneDirac",
        # The paper's setting (Mescheder et al. 2018, Fig. 1): plain gradient steps of rate 0.1.
        defaults=dict(dataset="dirac", steps=1000, lr_d=0.1, lr_g=0.1, loss="minimax", batch=1, hidden=1,
                      layers=1, noise_dim=1, optimizer="sgd", log_every=10),
        headlines=(Headline("dist", "distance to (0, 0)"), Headline("theta", "θ (G)"), Headline("psi", "ψ (D)")),
        converged=("dist", 0.05), batchable=False,
        # the losses' network presets (Adam, lr 1e-4) do not apply; LSGAN and hinge are not offered
        extra={"loss_presets": False, "losses": ("minimax", "nonsaturating", "wgan", "wgan-gp")}),
)}

MODES: tuple[str, ...] = tuple(REGISTRY)


def spec(mode: str) -> ModeSpec:
    try:
        return REGISTRY[mode]
    except KeyError:
        from ganviz.core.config import ConfigError

        raise ConfigError("--mode", f"unknown mode {mode!r}; choose one of {', '.join(MODES)}") from None


def load(path: str) -> Any:
    """Import "module:Class"."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)
