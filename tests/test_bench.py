"""`ganviz bench` runs and prints every figure it promises (the figures themselves are not asserted:
speed targets are checked by running the benchmark, not by timed unit tests)."""

import re

import pytest

from ganviz.cli import main


def test_bench_prints_all_figures(capsys, qapp):
    assert main(["bench", "--seconds", "0.4", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("plain PyTorch loop", "ganviz headless", "vs GAN Lab", "ganviz window open", "UI timer lateness"):
        assert label in out
    rates = [float(x.replace(",", "")) for x in re.findall(r"([\d,]+) it/s\s", out)]
    assert len(rates) >= 3 and all(r > 0 for r in rates)
    assert ("all targets met" in out) != ("some targets missed" in out)


def test_bench_record_measures_what_recording_costs(capsys, qapp, monkeypatch):
    from ganviz.recording import HeadlessRecorder
    from ganviz.ui.record_button import Recorder

    kept, grabbed = [], []
    keep, grab = HeadlessRecorder.on_row, Recorder.grab_frame
    monkeypatch.setattr(HeadlessRecorder, "on_row", lambda self, lane, row: (kept.append(row), keep(self, lane, row)))
    monkeypatch.setattr(Recorder, "grab_frame", lambda self: (grabbed.append(1), grab(self)))
    assert main(["bench", "--seconds", "0.5", "--repeats", "1", "--record"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"headless, train --record\s+[\d,]+ it/s\s+\d\.\d\d× headless (PASS|FAIL)", out), out
    assert re.search(r"window, Record pressed\s+[\d,]+ it/s\s+\d\.\d\d× window (PASS|FAIL)", out), out
    assert kept and grabbed  # both recorders really ran while timed


def test_speed_control_sets_the_sessions_speed_limit(window, qtbot):
    """The Speed control reaches the Session (whose limit tests/test_session.py checks on a clock)."""
    from PySide6.QtWidgets import QComboBox

    speed = window.findChild(QComboBox, "speedCombo")
    speed.setCurrentIndex(speed.findData(30.0))
    qtbot.waitUntil(lambda: window.worker.session.max_rate == 30.0, timeout=3000)
    speed.setCurrentIndex(speed.findData(None))
    qtbot.waitUntil(lambda: window.worker.session.max_rate is None, timeout=3000)


def test_bench_lanes_compares_batched_lanes_with_one(capsys):
    assert main(["bench", "--lanes", "2", "--seconds", "0.3", "--repeats", "1", "--no-window"]) == 0
    out = capsys.readouterr().out
    assert "2 lanes differing by seed" in out and "training groups of the 2 lanes: 1 (batched)" in out
    one = float(re.search(r"1 lane, headless\s+([\d,]+) it/s", out).group(1).replace(",", ""))
    per_lane = float(re.search(r"2 lanes, headless, per lane\s+([\d,]+) it/s", out).group(1).replace(",", ""))
    ratio = float(re.search(r"throughput vs one lane\s+([\d.]+)×", out).group(1))
    assert one > 0 and per_lane > 0 and ratio == pytest.approx(2 * per_lane / one, rel=0.05)
    assert "no targets for this mode and number of lanes" in out


@pytest.mark.parametrize("args, option", [
    (["--repeats", "0"], "--repeats"),
    (["--seconds", "nan"], "--seconds"),
    (["--seconds", "inf"], "--seconds"),
    (["--seconds", "0"], "--seconds"),
    (["--dataset", "nosuch"], "--dataset"),
    (["--lanes", "1"], "--lanes"),
])
def test_bad_bench_options_exit_2_with_one_line(capsys, args, option):
    assert main(["bench", *args, "--no-window"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and option in err and "Traceback" not in err
    assert captured.out == ""
