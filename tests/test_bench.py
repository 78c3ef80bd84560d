"""`ganviz bench` runs and prints every figure it promises (the figures themselves are not asserted:
speed targets are checked by running the benchmark, not by timed unit tests)."""

import re

from ganviz.cli import main


def test_bench_prints_all_figures(capsys, qapp):
    assert main(["bench", "--seconds", "0.4", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("plain PyTorch loop", "ganviz headless", "vs GAN Lab", "ganviz window open", "UI timer lateness"):
        assert label in out
    rates = [float(x.replace(",", "")) for x in re.findall(r"([\d,]+) it/s\s", out)]
    assert len(rates) >= 3 and all(r > 0 for r in rates)
    assert ("all targets met" in out) != ("some targets missed" in out)


def test_speed_limit_slows_training(window, qtbot):
    """The Speed control caps iterations per second (slow motion)."""
    import time

    from PySide6.QtWidgets import QComboBox

    speed = window.findChild(QComboBox, "speedCombo")
    speed.setCurrentIndex(speed.findData(30.0))
    window.play_button.setChecked(True)
    qtbot.wait(300)
    start_it, start = window.worker.trainer.iteration, time.perf_counter()
    qtbot.wait(1500)
    rate = (window.worker.trainer.iteration - start_it) / (time.perf_counter() - start)
    assert 15 <= rate <= 40
