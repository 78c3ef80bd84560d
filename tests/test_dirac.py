"""The Dirac-GAN mode (THEORY.md §9; Mescheder, Geiger & Nowozin 2018): its vector field against the
closed form, the paper's Figure 1 behaviours, its settings, CLI and place in the window."""

import csv
import math

import numpy as np
import pytest
import torch

from ganviz.core import dirac, modes
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.trainer import Trainer


def f_prime(t):
    """f(t) = −log(1 + e^{−t}) (the paper's vanilla f): f′(t) = 1/(1 + e^t)."""
    return 1.0 / (1.0 + np.exp(t))


def run(steps=1000, loss="minimax", lr=0.1, **extra):
    cfg = TrainConfig.for_mode("dirac", loss=loss, lr_d=lr, lr_g=lr, device="cpu", extra=extra)
    trainer = Trainer(cfg)
    trainer.step(steps)
    return trainer, trainer.evaluate(views=True)


GRID = np.array([(t, p) for t in np.linspace(-2, 2, 9) for p in np.linspace(-2, 2, 9)])


def test_vanilla_field_is_the_closed_form():
    v = dirac.vector_field(GRID[:, 0], GRID[:, 1], "minimax")
    t, p = GRID[:, 0], GRID[:, 1]
    # ganviz's sign of ψ (real data labelled 1): v = (ψ·f′(−θψ), −θ·f′(−θψ)); the paper's ψ is ours negated.
    expected = np.stack([p * f_prime(-t * p), -t * f_prime(-t * p)], axis=1)
    np.testing.assert_allclose(v, expected, rtol=1e-9, atol=1e-12)
    assert f_prime(0.0) == 0.5


def test_jacobian_at_the_equilibrium_has_imaginary_eigenvalues():
    h = 1e-5
    cols = [(dirac.vector_field(np.array([h * e[0]]), np.array([h * e[1]]), "minimax")[0]
             - dirac.vector_field(np.array([-h * e[0]]), np.array([-h * e[1]]), "minimax")[0]) / (2 * h)
            for e in ((1, 0), (0, 1))]
    jac = np.stack(cols, axis=1)
    np.testing.assert_allclose(jac, [[0, 0.5], [-0.5, 0]], atol=1e-8)
    eig = np.linalg.eigvals(jac)
    np.testing.assert_allclose(sorted(eig.imag), [-0.5, 0.5], atol=1e-8)
    np.testing.assert_allclose(eig.real, 0, atol=1e-8)


@pytest.mark.parametrize("reg", ["r1", "r2"])
def test_gradient_penalty_adds_minus_gamma_psi_to_the_field(reg):
    plain = dirac.vector_field(GRID[:, 0], GRID[:, 1], "minimax")
    penalised = dirac.vector_field(GRID[:, 0], GRID[:, 1], "minimax", reg=reg, gamma=0.7)
    np.testing.assert_allclose(penalised[:, 0], plain[:, 0], atol=1e-12)
    np.testing.assert_allclose(penalised[:, 1], plain[:, 1] - 0.7 * GRID[:, 1], atol=1e-12)


def test_other_losses_fields():
    t, p = GRID[:, 0], GRID[:, 1]
    np.testing.assert_allclose(dirac.vector_field(t, p, "wgan"), np.stack([p, -t], axis=1), atol=1e-12)
    ns = dirac.vector_field(t, p, "nonsaturating")
    np.testing.assert_allclose(ns[:, 0], p * f_prime(t * p), atol=1e-12)  # G descends −log σ(ψθ)
    gp = dirac.vector_field(t, p, "wgan-gp")
    np.testing.assert_allclose(gp[:, 1], -t - 2 * 10.0 * (np.abs(p) - 1) * np.sign(p), atol=1e-9)
    # Instance noise: still (0, 0) is a fixed point, and ψ is damped there
    noisy = dirac.vector_field(np.array([0.0, 0.0]), np.array([0.0, 0.5]), "minimax", reg="noise", noise_std=0.5)
    np.testing.assert_allclose(noisy[0], 0, atol=1e-12)
    assert noisy[1, 1] < 0


# --- Figure 1 of the paper, from (1, 1) with learning rate 0.1 --------------------------------------
START = math.hypot(1, 1)


def test_vanilla_simultaneous_spirals_out():
    trainer, ev = run(1000)
    assert ev.metrics["dist"] > 1.5 * START  # measured 2.76 after 1000 steps
    trail = ev.picture.trail.points
    r = np.hypot(trail[:, 0], trail[:, 1])
    assert np.all(np.diff(r) > -1e-6)  # every step moves outwards
    assert (trainer.d_updates, trainer.g_updates, trainer.iteration) == (1000, 1000, 1000)


def test_vanilla_alternating_does_not_converge():
    _, ev = run(2000, update="alternating")
    r = np.hypot(*ev.picture.trail.points.T)
    assert r.min() > 0.9 * START and ev.metrics["dist"] > 0.9 * START  # measured 1.38 at 2000 steps
    assert np.ptp(ev.picture.trail.points[:, 0]) > 2  # it circles: θ swings both ways


@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
def test_r1_converges(update):
    _, ev = run(1000, reg="r1", gamma=1.0, update=update)
    assert ev.metrics["dist"] < 0.05


def test_wgan_gp_does_not_converge_to_the_point():
    _, ev = run(1000, loss="wgan-gp")
    assert ev.metrics["dist"] > 1.0  # measured 19.9: θ drifts while |ψ| is pushed towards 1
    assert abs(ev.metrics["theta"]) > 1.0


def test_lr_and_loss_defaults_are_the_papers_and_presets_do_not_apply():
    cfg = TrainConfig.for_mode("dirac", loss="wgan-gp")
    assert (cfg.optimizer, cfg.lr_d, cfg.lr_g, cfg.k) == ("sgd", 0.1, 0.1, 1)
    assert TrainConfig.for_mode("dirac").with_loss("wgan").lr_d == 0.1


def test_settings_are_validated_and_refused_in_other_modes():
    with pytest.raises(ConfigError) as err:
        TrainConfig.for_mode("1d", extra={"reg": "r1"})
    assert err.value.option == "--reg"
    for extra, option in (({"reg": "l2"}, "--reg"), ({"gamma": -1.0}, "--gamma"), ({"update": "x"}, "--update"),
                          ({"theta0": 99.0}, "--theta0"), ({"noise_std": 0}, "--noise-std"), ({"foo": 1}, "--foo")):
        with pytest.raises(ConfigError) as err:
            TrainConfig.for_mode("dirac", extra=extra)
        assert err.value.option == option
    with pytest.raises(ConfigError) as err:
        TrainConfig.for_mode("dirac", loss="lsgan")
    assert err.value.option == "--loss"


def test_fit_d_star_freezes_theta():
    cfg = TrainConfig.for_mode("dirac", device="cpu", freeze_g=True)
    trainer = Trainer(cfg)
    trainer.step(50)
    assert trainer.G.value.item() == 1.0 and trainer.g_updates == 0 and trainer.d_updates == 50


def test_registry_entry():
    spec = modes.spec("dirac")
    assert spec.label == "Dirac-GAN" and not spec.batchable
    assert [h.column for h in spec.headlines] == ["dist", "theta", "psi"]
    assert tuple(spec.extra["losses"]) == dirac.LOSSES


# --- CLI --------------------------------------------------------------------------------------------
def test_cli_train_writes_theta_psi_dist(tmp_path):
    from ganviz.cli import build_parser, main

    assert "dirac" in build_parser().parse_args(["train", "--mode", "dirac"]).mode
    out = tmp_path / "run"
    assert main(["train", "--mode", "dirac", "--reg", "r1", "--gamma", "1", "--update", "alternating",
                 "--theta0", "1", "--psi0", "1", "--lr-d", "0.1", "--lr-g", "0.1", "--steps", "400",
                 "--log-every", "100", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert list(rows[0])[:6] == ["step", "d_loss", "g_loss", "theta", "psi", "dist"]
    assert [int(r["step"]) for r in rows] == [0, 100, 200, 300, 400]
    assert float(rows[0]["theta"]) == 1.0 and float(rows[-1]["dist"]) < 0.05
    cfg = TrainConfig.load(out / "config.json")
    assert cfg.extra == {**dirac.DEFAULTS, "reg": "r1", "gamma": 1.0, "update": "alternating"}
    assert (out / "final.png").stat().st_size > 0


@pytest.mark.parametrize("flag", [["--reg", "r1"], ["--update", "alternating"], ["--theta0", "2"], ["--gamma", "1"]])
def test_cli_refuses_dirac_options_in_other_modes(tmp_path, capsys, flag):
    from ganviz.cli import main

    assert main(["train", "--mode", "1d", *flag, "--steps", "5", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert flag[0] in err and "dirac" in err


# --- window -------------------------------------------------------------------------------------------
def test_window_lists_the_mode_and_draws_it(window, qtbot):
    from ganviz.ui.view_dirac import ViewDirac

    combo = window.mode_combo
    index = combo.findData("dirac")
    assert index >= 0 and combo.itemText(index) == "Dirac-GAN"
    combo.setCurrentIndex(index)
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.mode == "dirac", timeout=10000)
    view = window.view
    assert isinstance(view, ViewDirac)
    losses_on = {window.loss_combo.itemData(i) for i in range(window.loss_combo.count())
                 if window.loss_combo.model().item(i).isEnabled()}
    assert losses_on == set(dirac.LOSSES)
    qtbot.waitUntil(lambda: len(view.items.field.xData if view.items.field.xData is not None else []) > 0,
                    timeout=10000)
    # a click's start point and a regulariser start a new run with those settings
    view.theta_spin.setValue(-1.5)
    qtbot.waitUntil(lambda: window.worker.session.cfg.extra.get("theta0") == -1.5, timeout=10000)
    assert window.worker.session.lanes[0].trainer.G.value.item() == -1.5


def test_copy_command_repeats_the_dirac_settings():
    from ganviz.cli import build_parser, config_from_args
    from ganviz.core.command_line import train_command

    cfg = TrainConfig.for_mode("dirac", loss="wgan-gp", extra={"reg": "noise", "noise_std": 0.3, "psi0": -0.5})
    line = train_command(cfg)
    assert "--reg noise" in line and "--noise-std 0.3" in line and "--psi0 -0.5" in line and "#" not in line
    args = build_parser().parse_args(line.split()[1:])
    again = config_from_args(args)
    assert again.extra == dirac.settings(cfg.extra) and again.loss == "wgan-gp"


def test_a_click_on_the_plane_starts_a_run_from_there(qtbot):
    from PySide6.QtCore import QPointF, Qt

    from ganviz.ui.view_dirac import ViewDirac

    view = ViewDirac()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.plot.setRange(xRange=(-2, 2), yRange=(-2, 2), padding=0)
    qtbot.wait(50)
    scene_pos = view.plot.vb.mapViewToScene(QPointF(0.5, -1.25))

    class Click:
        def button(self):
            return Qt.MouseButton.LeftButton

        def double(self):
            return False

        def scenePos(self):
            return scene_pos

    with qtbot.waitSignal(view.restart_requested) as blocker:
        view._clicked(Click())
    extra = blocker.args[0]["extra"]
    assert extra["theta0"] == pytest.approx(0.5, abs=0.02) and extra["psi0"] == pytest.approx(-1.25, abs=0.02)
    assert TrainConfig.for_mode("dirac", extra=extra).extra["theta0"] == extra["theta0"]


def test_models_keep_the_task_contract():
    task = dirac.DiracTask(TrainConfig.for_mode("dirac"), torch.device("cpu"))
    G, D = task.build_generator(), task.build_discriminator()
    gen = torch.Generator().manual_seed(0)
    fake = G(task.sample_noise(5, gen))
    assert fake.shape == (5, 1) and torch.all(fake == 1.0)
    assert D(task.sample_real(5, gen)).shape == (5,) and torch.all(D(fake) == 1.0)
