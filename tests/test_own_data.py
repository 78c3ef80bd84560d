"""A user's own data (1-D and 2-D point files): standardised for training so any scale and offset trains
like the same shape at unit scale, shown and exported in the data's own units (samples.csv), and the
energy distance the README's real-data check reports."""

import csv
import json
import math
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ganviz.cli import main  # noqa: E402
from ganviz.core.config import ConfigError, TrainConfig  # noqa: E402
from ganviz.core.points import Standardisation, energy_distance  # noqa: E402
from ganviz.core.toy1d import Toy1DTask  # noqa: E402
from ganviz.core.trainer import Trainer  # noqa: E402
from ganviz.runfiles import export_samples  # noqa: E402

CPU = torch.device("cpu")
RNG = np.random.default_rng(0)
# One shape, two clusters at unit scale; the same shape at the scales the issue names.
SHAPE_2D = np.concatenate([RNG.normal((-1.0, 0.0), 0.3, (150, 2)), RNG.normal((1.0, 1.0), 0.3, (150, 2))])
SHAPE_1D = np.concatenate([RNG.normal(-2.0, 0.5, 300), RNG.normal(2.0, 0.5, 300)])
SCALES = {"offset 1e9 ± 2.5": (1e9, 2.5, 2.5), "1e-6 wide": (0.0, 1e-6, 1e-6), "columns 1000× apart": (0.0, 1.0, 1000.0)}


def write_csv(path, names, points):
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    lines = ([",".join(names)] if names else []) + [",".join(repr(float(v)) for v in row) for row in points]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


# --- the energy distance ------------------------------------------------------------------------
def test_energy_distance_closed_forms():
    # X ~ N(0, 1) (8,000 equal-mass quantiles: almost no sampling noise) against δ_0:
    # 2 E|X| − E|X − X′| − 0 = 2√(2/π) − 2/√π.
    q = (np.arange(8000) + 0.5) / 8000
    x = math.sqrt(2) * torch.erfinv(torch.tensor(2 * q - 1, dtype=torch.float64)).numpy()
    assert energy_distance(x, np.zeros(10)) == pytest.approx((2 * math.sqrt(2) - 2) / math.sqrt(math.pi), abs=1e-3)
    # Two Diracs a apart: 2a exactly; two samples of one distribution: 0 (unbiased: either sign); symmetric.
    assert energy_distance(np.zeros(5), np.full(7, 3.0)) == pytest.approx(6.0)
    rng = np.random.default_rng(2)
    a, a2, b = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2)), rng.normal(size=(200, 2)) + 0.5
    assert energy_distance(a, a2) == pytest.approx(0.0, abs=0.01)
    assert energy_distance(a, b) == pytest.approx(energy_distance(b, a)) and energy_distance(a, b) > 0.1
    # 2-D: N(0, I) against δ_0: 2 E|X| − E|X − X′| = 2√(π/2) − √π (a Rayleigh mean and √2 times it).
    z = np.random.default_rng(1).normal(size=(3000, 2))
    assert energy_distance(z, np.zeros((5, 2))) == pytest.approx(2 * math.sqrt(math.pi / 2) - math.sqrt(math.pi),
                                                                 abs=0.015)
    with pytest.raises(ValueError):
        energy_distance(np.zeros(1), np.zeros(3))


# --- any scale trains like unit scale -----------------------------------------------------------
def curve(path, mode, steps=300, every=100):
    """The JSD after every `every` iterations of the default run on the data file, and the trainer."""
    tr = Trainer(TrainConfig.for_mode(mode, dataset=str(path), hidden=32, batch=128))
    start = tr.evaluate(views=False).metrics["jsd"]
    out = []
    for _ in range(steps // every):
        tr.step(every)
        out.append(tr.evaluate(views=False).metrics["jsd"])
    return start, np.array(out), tr


@pytest.fixture(scope="module")
def unit_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unit")
    return {"2d": curve(write_csv(folder / "unit2.csv", None, SHAPE_2D), "2d"),
            "1d": curve(write_csv(folder / "unit1.csv", None, SHAPE_1D), "1d")}


@pytest.mark.parametrize("mode", ["2d", "1d"])
@pytest.mark.parametrize("scale", list(SCALES))
def test_data_at_any_scale_trains_like_the_same_shape_at_unit_scale(tmp_path, unit_runs, mode, scale):
    """Standardised, 1e9 ± 2.5, a 1e-6-wide cloud and columns 1,000× apart are the unit-scale set to
    float64 rounding, so the same seed trains the same run: the JSD curve matches the unit run's (and
    that run learns). Before standardisation 1e9 ± 2.5 stayed at log 2 (case 20)."""
    offset, sx, sy = SCALES[scale]
    shape = SHAPE_2D * (sx, sy) + offset if mode == "2d" else SHAPE_1D * sx + offset
    start, jsd, tr = curve(write_csv(tmp_path / "data.csv", None, shape), mode)
    unit_start, unit_jsd, unit_tr = unit_runs[mode]
    assert unit_jsd[-1] < unit_start - 0.1  # the unit run learns
    assert start == pytest.approx(unit_start, abs=1e-3)
    np.testing.assert_allclose(jsd, unit_jsd, atol=0.01)
    # Exported in the data's units: the samples are the unit run's, mapped by the data's own affine map.
    samples = export(tr, tmp_path / "samples.csv")
    unit_samples = export(unit_tr, tmp_path / "unit_samples.csv")
    data = shape.reshape(len(shape), -1)
    units = Standardisation.of(data)
    unit_data = (SHAPE_2D if mode == "2d" else SHAPE_1D).reshape(len(shape), -1)
    unit_units = Standardisation.of(unit_data)
    np.testing.assert_allclose(units.to_standard(samples), unit_units.to_standard(unit_samples), atol=0.05)
    z, z_unit = units.to_standard(data), unit_units.to_standard(unit_data)
    assert energy_distance(units.to_standard(samples), z) == pytest.approx(
        energy_distance(unit_units.to_standard(unit_samples), z_unit), abs=0.01)


def export(tr, path, n=1000):
    assert export_samples(tr.task, tr.G, n, tr.cfg.seed, path) == n
    rows = read_csv(path)
    return np.array(rows[1:], dtype=np.float64)


def test_a_1d_file_of_shape_n_is_a_kde_target_with_scotts_rule(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, 50 + 10 * SHAPE_1D)
    t = Toy1DTask(TrainConfig.for_mode("1d", dataset=str(path)), CPU)
    h = 10 * SHAPE_1D.std() * len(SHAPE_1D) ** (-1 / 5)
    assert "v.npy: 600 values" in t.describe() and f"h = {h:.3g}" in t.describe() and "Scott" in t.describe()
    # exact samples of the KDE read near zero (its noise floor); the picture is labelled in data units
    est = t.estimator.estimate(t.sample_real(10_000, torch.Generator().manual_seed(1)).reshape(-1).double().numpy())
    assert est.jsd < 0.002
    pic = t.evaluate(t.build_generator(), t.build_discriminator(), torch.Generator().manual_seed(0)).picture
    assert pic.units is t.units and pic.axis_name == "x"
    assert f"Scott's rule h = std·n^(−1/5) = {h:.3g}" in pic.target_note  # the mode settings state the rule
    assert float(pic.units.to_data(np.zeros((1, 1)))[0, 0]) == pytest.approx(50 + 10 * SHAPE_1D.mean())


@pytest.mark.parametrize("text, words", [("h\n" + "3\n" * 20, "the data has no spread"),
                                         ("1,2\n" * 20, "expected 1 column")])
def test_a_1d_file_that_cannot_be_a_target_is_refused_with_the_reason(tmp_path, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        Toy1DTask(TrainConfig.for_mode("1d", dataset=str(path)), CPU)
    assert err.value.option == "--dataset" and "bad.csv" in str(err.value) and words in str(err.value)


# --- the CLI: --points, --samples ---------------------------------------------------------------
def test_train_points_with_samples_writes_them_in_the_datas_units_with_its_column_names(tmp_path, capsys):
    data = SHAPE_2D * (1.0, 100.0) + (3.0, 70.0)
    path = write_csv(tmp_path / "faithful.csv", ("eruptions", "waiting"), data)
    out = tmp_path / "run"
    assert main(["train", "--mode", "2d", "--points", str(path), "--steps", "20", "--log-every", "10",
                 "--samples", "500", "--out", str(out)]) == 0
    rows = read_csv(out / "samples.csv")
    assert rows[0] == ["eruptions", "waiting"] and len(rows) == 501
    samples = np.array(rows[1:], dtype=np.float64)
    assert np.isfinite(samples).all()
    assert abs(samples[:, 1].mean() - 70) < 150 and samples[:, 1].std() > 10 * samples[:, 0].std()  # its units
    header = read_csv(out / "metrics.csv")[0]
    assert "modes" not in header and "hq" not in header and "jsd" in header  # no mode-irrelevant columns
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".samples")]
    # 1-D, no header: the column is x
    one = write_csv(tmp_path / "one.csv", None, 1e9 + 2.5 * SHAPE_1D)
    assert main(["train", "--mode", "1d", "--points", str(one), "--steps", "10", "--samples", "20",
                 "--out", str(tmp_path / "one")]) == 0
    rows = read_csv(tmp_path / "one" / "samples.csv")
    assert rows[0] == ["x"] and len(rows) == 21 and abs(float(rows[1][0]) - 1e9) < 100
    # ... and on resume the samples of the longer run replace them
    assert main(["train", "--resume", str(tmp_path / "one"), "--steps", "20", "--samples", "5"]) == 0
    assert len(read_csv(tmp_path / "one" / "samples.csv")) == 6


def test_without_a_header_the_columns_are_x1_x2(tmp_path):
    path = write_csv(tmp_path / "p.csv", None, SHAPE_2D)
    assert main(["train", "--mode", "2d", "--points", str(path), "--steps", "10", "--samples", "3",
                 "--out", str(tmp_path / "r")]) == 0
    assert read_csv(tmp_path / "r" / "samples.csv")[0] == ["x1", "x2"]


@pytest.mark.parametrize("args, option", [
    (["--mode", "2d", "--samples", "0"], "--samples"),
    (["--mode", "2d", "--samples", "2000000"], "--samples"),
    (["--mode", "mnist", "--samples", "10"], "--samples"),
    (["--mode", "2d", "--points", "a.csv", "--dataset", "ring8"], "--points"),
    (["--mode", "dirac", "--points", "a.csv"], "--points"),
    (["--mode", "2d", "--points", "FLAT"], "--dataset"),
])
def test_bad_points_and_samples_exit_2_before_anything_is_written(tmp_path, capsys, args, option):
    flat = write_csv(tmp_path / "flat.csv", ("a", "b"), np.column_stack((np.arange(20.0), np.full(20, 5.0))))
    args = [str(flat) if a == "FLAT" else a for a in args]
    out = tmp_path / "never"
    assert main(["train", *args, "--steps", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert option in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_sweep_summary_leaves_out_headlines_its_lanes_do_not_log():
    from ganviz.sweep import summary_columns

    logged = ("step", "d_loss", "g_loss", *Trainer(TrainConfig.for_mode("2d", dataset="moons", hidden=8)).task.metric_names)
    cols = summary_columns("2d", ["seed"], logged)
    assert "final_jsd" in cols and "final_modes" not in cols and "best_hq" not in cols
    assert "final_modes" in summary_columns("2d", ["seed"])


# --- the views: the data's own units ------------------------------------------------------------
def test_the_plane_scales_each_axis_to_the_datas_spread_unless_equal_aspect(qtbot, tmp_path):
    from ganviz.core.snapshot import Snapshot
    from ganviz.ui.view2d import View2D

    path = write_csv(tmp_path / "cols.csv", ("length_mm", "mass_g"), SHAPE_2D * (1.0, 100.0) + (0.0, 1e9))
    tr = Trainer(TrainConfig.for_mode("2d", dataset=str(path), hidden=8))
    ev = tr.evaluate(views=True)
    view = View2D()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    view.show_snapshot(Snapshot(mode="2d", iteration=0, metrics=ev.metrics, views=ev.picture,
                                target=tr.task.describe(), history={"step": np.array([0.0])}))
    (x0, x1), (y0, y1) = view.plot.getViewBox().viewRange()
    assert not view.plot.getViewBox().state["aspectLocked"]
    assert y0 < 1e9 + 100 * SHAPE_2D[:, 1].min() and y1 > 1e9 + 100 * SHAPE_2D[:, 1].max()  # data units
    assert (y1 - y0) / (x1 - x0) > 30  # each axis at its own spread
    assert view.plot.getAxis("bottom").labelText == "length_mm" and view.plot.getAxis("left").labelText == "mass_g"
    labels = view.plot.getAxis("left").tickStrings([1e9, 1e9 + 50], 1.0, 50.0)
    assert labels == ["1000000000", "1000000050"]  # not 1e+09 twice
    assert "Scott's rule per axis" in view.targets_hint.text() and "h(mass_g) = " in view.targets_hint.text()
    view.equal_aspect_box.setChecked(True)
    assert view.plot.getViewBox().state["aspectLocked"]
    view.equal_aspect_box.setChecked(False)
    assert not view.plot.getViewBox().state["aspectLocked"]


def test_the_1d_plot_is_labelled_in_the_datas_units(qtbot, tmp_path):
    from ganviz.core.snapshot import Snapshot
    from ganviz.ui.view1d import View1D

    path = write_csv(tmp_path / "h.csv", ("height",), 1e9 + 2.5 * SHAPE_1D)
    tr = Trainer(TrainConfig.for_mode("1d", dataset=str(path), hidden=8))
    ev = tr.evaluate(views=True)
    view = View1D()
    qtbot.addWidget(view)
    view.show_snapshot(Snapshot(mode="1d", iteration=0, metrics=ev.metrics, views=ev.picture,
                                target=tr.task.describe(), history={"step": np.array([0.0])}))
    axis = view.plot.getAxis("bottom")
    assert axis.labelText == "height"
    std = 2.5 * SHAPE_1D.std()
    ((spacing, values), *_) = axis.tickValues(-3.0, 3.0, 600)
    shown = [1e9 + 2.5 * SHAPE_1D.mean() + std * v for v in values]
    step = float(f"{spacing * std:.6g}")  # a round spacing in the data's units (e.g. 5)
    assert all(abs(s - round(s / step) * step) < 1e-3 * step for s in shown)  # ticks at round data values
    labels = axis.tickStrings(values, 1.0, spacing)
    assert all(lab.startswith(("99999", "100000")) for lab in labels) and len(set(labels)) == len(labels)


def test_the_window_loads_1d_data_and_exports_samples_in_its_units(window, qtbot, tmp_path):
    """Load data… in the 1-D settings, then File › Export samples…: the selected lane's samples in
    the data's units with its column name; a folder that cannot be written is a message, not a crash."""
    path = write_csv(tmp_path / "heights.csv", ("height_cm",), 170 + 10 * SHAPE_1D)
    window.view.load_data_file(str(path))
    qtbot.waitUntil(lambda: window.frame is not None and "heights.csv" in window.frame.target, timeout=10_000)
    out = tmp_path / "samples.csv"
    window.export_samples(out, n=300)
    qtbot.waitUntil(out.exists, timeout=10_000)
    rows = read_csv(out)
    values = np.array(rows[1:], dtype=np.float64)
    assert rows[0] == ["height_cm"] and len(values) == 300 and 100 < values.mean() < 240
    qtbot.waitUntil(lambda: any("Exported 300 samples" in e.text for e in window.log_entries()), timeout=5000)
    window.export_samples(tmp_path / "no" / "such" / "folder.csv", n=10)
    qtbot.waitUntil(lambda: any("Could not export samples" in e.text for e in window.log_entries()), timeout=5000)
    assert not (tmp_path / "no").exists()
    bad = write_csv(tmp_path / "flat.csv", None, np.full(20, 3.0))
    with qtbot.assertNotEmitted(window.view.restart_requested), \
            qtbot.waitSignal(window.view.message, check_params_cb=lambda m: "Could not load" in m) as msg:
        window.view.load_data_file(str(bad))
    assert "flat.csv" in msg.args[0] and "no spread" in msg.args[0]


def test_measure_reads_samples_in_the_datas_units_against_a_point_file(tmp_path):
    """`ganviz measure --dataset FILE` gets samples in the data's units (as samples.csv writes them):
    exact samples of the KDE read near zero, the same samples shifted by 3 std read far more."""
    from ganviz.core.toy2d import Toy2DTask
    from ganviz.measure_cli import measure

    data = SHAPE_2D * (1.0, 100.0) + (0.0, 1e9)
    path = write_csv(tmp_path / "d.csv", ("a", "b"), data)
    t = Toy2DTask(TrainConfig.for_mode("2d", dataset=str(path)), CPU)
    exact = t.to_data(t.sample_real(20_000, torch.Generator().manual_seed(3)).double().numpy())
    near = measure("2d", str(path), exact)["jsd"]
    far = measure("2d", str(path), exact + 3 * data.std(axis=0))["jsd"]
    assert near < 0.01 and far > 0.3


def kde_jsd_kl_by_quadrature(values, h, shift):
    """JSD, KL(P‖Q), KL(Q‖P) between the Gaussian KDE P of `values` (bandwidth h) and Q, P moved by
    `shift`, by quadrature on a fine grid in the data's units (log space: no underflow in the tails)."""
    x = np.linspace(values.min() - 12 * h, values.max() + shift + 12 * h, 120_001)
    dx = x[1] - x[0]

    def log_kde(at):
        out = np.empty_like(at)
        for i in range(0, len(at), 8192):
            t = (at[i:i + 8192, None] - values[None, :]) / h
            out[i:i + 8192] = np.logaddexp.reduce(-0.5 * t * t, axis=1)
        return out - math.log(len(values) * h * math.sqrt(2 * math.pi))

    lp, lq = log_kde(x), log_kde(x - shift)
    p, q = np.exp(lp), np.exp(lq)
    lm = np.logaddexp(lp, lq) - math.log(2)
    jsd = 0.5 * dx * (np.sum(p * (lp - lm)) + np.sum(q * (lq - lm)))
    return jsd, dx * np.sum(p * (lp - lq)), dx * np.sum(q * (lq - lp))


def test_measure_1d_reads_samples_in_the_datas_units_against_a_data_file(tmp_path, capsys):
    """`ganviz measure --mode 1d --dataset FILE` takes a 1-D data file as the window does (Scott's KDE,
    h = std·n^(−1/5)), samples in the data's units: 10⁵ exact KDE samples read near zero; moved by one
    std they read the JSD and KLs computed here by quadrature in the data's units."""
    values = 5e6 + 2e3 * SHAPE_1D  # far from unit scale and offset
    data = write_csv(tmp_path / "heights.csv", ("height",), values)
    h = values.std() * len(values) ** (-1 / 5)
    rng = np.random.default_rng(4)
    exact = values[rng.integers(0, len(values), 100_000)] + h * rng.standard_normal(100_000)
    shift = float(values.std())

    def measure_file(samples):
        path = tmp_path / "g.npy"
        np.save(path, samples)
        code = main(["measure", "--mode", "1d", "--dataset", str(data), str(path)])
        out, err = capsys.readouterr()
        assert code == 0 and err == "" and out.count("\n") == 1
        return json.loads(out)

    near = measure_file(exact)
    assert near["n"] == 100_000 and near["jsd"] < 0.002 and near["kl"] < 0.01
    s = near["settings"]
    assert s["kde_rule"] == "scott" and s["kde_points"] == 600 and s["kde_bandwidth"] == pytest.approx(h)
    far = measure_file(exact + shift)
    jsd, kl, kl_rev = kde_jsd_kl_by_quadrature(values, h, shift)
    assert 0.1 < jsd < 0.6  # a reading the tolerance can tell apart from zero (computed 0.381; KLs 2.64, 2.52)
    assert far["jsd"] == pytest.approx(jsd, abs=max(0.005, 0.05 * jsd))
    assert far["kl"] == pytest.approx(kl, abs=max(0.01, 0.1 * kl))
    assert far["kl_rev"] == pytest.approx(kl_rev, abs=max(0.01, 0.1 * kl_rev))


@pytest.mark.parametrize("text, words", [("h\n" + "3\n" * 20, "the data has no spread"),
                                         ("1,2\n" * 20, "expected 1 column"),
                                         (None, "no such file")])
def test_measure_1d_refuses_a_bad_data_file_in_one_line(tmp_path, capsys, text, words):
    data = tmp_path / "bad.csv"
    if text is not None:
        data.write_text(text)
    samples = tmp_path / "g.npy"
    np.save(samples, np.arange(20.0))
    code = main(["measure", "--mode", "1d", "--dataset", str(data), str(samples)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "bad.csv" in err and words in err


def test_a_data_file_is_read_once_off_the_ui_thread_with_progress_and_cancel(window, qtbot, tmp_path, monkeypatch):
    """Load data… reads the file on a thread of its own (the window goes on handling events while it
    is read), shows progress, can be cancelled (nothing changes) and is closed with the window; the
    run built from the file does not parse it again."""
    import threading

    from PySide6.QtCore import QTimer

    import ganviz.core.points as points

    real, reads, release = points._read_csv, [], threading.Event()

    def held(path, columns, progress, cancel):  # the parse waits for the test (or its cancel)
        reads.append((path.name, threading.current_thread().name))
        (cancel if path.name == "first.csv" else release).wait(10)
        return real(path, columns, progress, cancel)

    monkeypatch.setattr(points, "_read_csv", held)
    values = 170 + 10 * np.resize(SHAPE_1D, 3 * points.PROGRESS_LINES)
    view, target = window.view, window.frame.target if window.frame else None
    # Cancelled: the thread stops and is joined, nothing is restarted, the row of progress goes away.
    write_csv(tmp_path / "first.csv", ("height_cm",), values)
    with qtbot.assertNotEmitted(view.restart_requested):
        view.load_data_file(str(tmp_path / "first.csv"))
        assert view.loading_points and view.point_progress.isVisible()
        assert view.cancel_point_load() and not view.loading_points and not view.point_progress.isVisible()
    # Read while the window goes on: an event posted now is handled before the parse may even start.
    path = write_csv(tmp_path / "many.csv", ("height_cm",), values)
    view.load_data_file(str(path))
    handled = []
    QTimer.singleShot(0, lambda: handled.append(view.loading_points))
    qtbot.waitUntil(lambda: handled == [True], timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: window.frame is not None and "many.csv" in window.frame.target, timeout=30_000)
    assert view.point_progress.value() == 1000 and not view.loading_points
    assert reads == [("first.csv", "ganviz-point-load"), ("many.csv", "ganviz-point-load")]  # once each
    assert target is None or "many.csv" not in target
    # Closing the window while a file is read cancels and joins the thread.
    write_csv(tmp_path / "first.csv", ("height_cm",), values[:-1])  # changed on disk: read again
    view.load_data_file(str(tmp_path / "first.csv"))
    thread = view._points_load.reader
    window.close()
    assert not thread.is_alive() and len(reads) == 3
