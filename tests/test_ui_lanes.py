"""Lanes in the window as a user drives them: add, change one lane, remove, play and Fit D* on
every lane, save and open, the command line, the compare plot."""

import shutil

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QFrame, QLabel, QPushButton, QSlider

from ganviz.core import modes
from ganviz.core.command_line import session_command
from ganviz.core.session import Session
from ganviz.ui.main_window import command_configs


def find(window, cls, name):
    widget = window.findChild(cls, name)
    assert widget is not None, name
    return widget


def click(qtbot, window, name):
    qtbot.mouseClick(find(window, QPushButton, name), Qt.MouseButton.LeftButton)


def lane_views(window):
    return [w for w in window.findChildren(QFrame, "laneView") if w.isVisibleTo(window)]


def settled(window) -> bool:
    """The newest frame the window drew has every command the window posted."""
    return window.frame is not None and window.frame.applied >= window._posted


def two_lanes(window, qtbot):
    qtbot.waitUntil(lambda: window.frame is not None, timeout=3000)
    click(qtbot, window, "addLaneButton")
    qtbot.waitUntil(lambda: settled(window) and len(window.frame.lanes) == 2 and len(lane_views(window)) == 2,
                    timeout=5000)
    return window.frame.lanes


def test_add_lane_selects_it_and_labels_lanes_by_what_differs(window, qtbot):
    remove = find(window, QPushButton, "removeLaneButton")
    qtbot.waitUntil(lambda: window.frame is not None, timeout=3000)
    assert not remove.isEnabled() and lane_views(window) == []  # one lane: the full view, as before
    first, second = two_lanes(window, qtbot)
    assert window.selected == second.id and remove.isEnabled()
    assert find(window, QComboBox, "laneCombo").currentData() == second.id
    assert second.cfg == first.cfg  # a copy of the selected lane's settings
    headers = [v.findChild(QLabel, "laneHeader").text() for v in lane_views(window)]
    assert "lane 1" in headers[0] and "lane 2" in headers[1]  # nothing differs yet

    find(window, QSlider, "kSlider").setValue(5)
    qtbot.waitUntil(lambda: settled(window) and window.frame.lane(second.id).cfg.k == 5, timeout=3000)
    assert window.frame.lane(first.id).cfg == first.cfg  # only the selected lane changed
    session = window.worker.session
    assert session.lane(first.id).trainer.cfg.k == 1 and session.lane(second.id).trainer.cfg.k == 5
    qtbot.waitUntil(lambda: "k = 5" in lane_views(window)[1].findChild(QLabel, "laneHeader").text(), timeout=3000)
    assert "k = 1" in lane_views(window)[0].findChild(QLabel, "laneHeader").text()

    # selecting the first lane shows its settings in the controls
    qtbot.mouseClick(lane_views(window)[0], Qt.MouseButton.LeftButton)
    assert window.selected == first.id
    assert find(window, QSlider, "kSlider").value() == 1


def test_remove_lane(window, qtbot):
    first, second = two_lanes(window, qtbot)
    click(qtbot, window, "removeLaneButton")  # removes the selected (second) lane
    qtbot.waitUntil(lambda: settled(window) and [l.id for l in window.frame.lanes] == [first.id], timeout=3000)
    assert window.selected == first.id
    assert not find(window, QPushButton, "removeLaneButton").isEnabled()
    assert window.stack.currentWidget() is window.view


def test_play_advances_every_lane_and_fit_d_star_restores_g_on_both(window, qtbot):
    two_lanes(window, qtbot)
    click(qtbot, window, "playButton")
    qtbot.waitUntil(lambda: all(lane.iteration > 100 for lane in window.frame.lanes), timeout=15000)
    click(qtbot, window, "fitDButton")
    qtbot.waitUntil(lambda: settled(window) and window.frame.state == "fitting", timeout=3000)
    g_updates = [lane.g_updates for lane in window.frame.lanes]
    qtbot.waitUntil(lambda: settled(window) and window.frame.state == "paused", timeout=60000)
    assert [lane.g_updates for lane in window.frame.lanes] == g_updates  # G frozen on both
    for lane in window.worker.session.lanes:
        assert lane.trainer.cfg.freeze_g is False and not lane.trainer.fitting_d
        assert lane.trainer.opt_d.param_groups[0]["lr"] == lane.trainer.cfg.lr_d
    click(qtbot, window, "playButton")
    qtbot.waitUntil(lambda: all(lane.g_updates > g + 20 for lane, g in zip(window.frame.lanes, g_updates)),
                    timeout=15000)


def test_save_then_open_restores_lanes_and_iterations(window, qtbot, tmp_path):
    first, second = two_lanes(window, qtbot)
    find(window, QSlider, "kSlider").setValue(3)
    window.worker.call(Session.step, 40)
    qtbot.waitUntil(lambda: settled(window) and window.frame.lanes[0].iteration == 40, timeout=10000)
    saved = {lane.id: (lane.iteration, lane.cfg) for lane in window.frame.lanes}
    window.save_run(tmp_path / "run")
    qtbot.waitUntil(lambda: settled(window) and "Saved the run" in window.statusBar().currentMessage(), timeout=10000)
    window.worker.call(Session.step, 10)
    click(qtbot, window, "removeLaneButton")
    qtbot.waitUntil(lambda: settled(window) and len(window.frame.lanes) == 1, timeout=5000)

    assert window.open_run(tmp_path / "run")
    qtbot.waitUntil(lambda: settled(window) and len(window.frame.lanes) == 2, timeout=10000)
    assert {lane.id: (lane.iteration, lane.cfg) for lane in window.frame.lanes} == saved
    assert window.frame.state == "paused" and len(lane_views(window)) == 2


def test_a_damaged_run_folder_gives_a_message_and_keeps_the_current_run(window, qtbot, tmp_path):
    first, second = two_lanes(window, qtbot)
    window.save_run(tmp_path / "run")
    qtbot.waitUntil(lambda: settled(window) and "Saved the run" in window.statusBar().currentMessage(), timeout=10000)
    for path in (tmp_path / "run").iterdir():
        if path.suffix != ".json":
            path.write_bytes(path.read_bytes()[:20])  # truncated
    posted = window._posted
    assert not window.open_run(tmp_path / "run")
    assert "Could not open" in window.statusBar().currentMessage()
    assert window._posted == posted and window.banner.isVisible()
    assert not window.open_run(tmp_path / "nothing here")
    click(qtbot, window, "stepButton")
    qtbot.waitUntil(lambda: settled(window) and all(lane.iteration == 1 for lane in window.frame.lanes), timeout=5000)
    assert [lane.id for lane in window.frame.lanes] == [first.id, second.id]
    assert any("Could not open" in e.text for e in window.log_entries())
    shutil.rmtree(tmp_path / "run")


def test_saving_to_an_unwritable_place_is_reported_with_its_traceback(window, qtbot, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    window.save_run(blocker / "run")
    qtbot.waitUntil(lambda: settled(window) and "save failed" in window.statusBar().currentMessage(), timeout=5000)
    entry = [e for e in window.log_entries() if "save failed" in e.text][-1]
    assert "Traceback" in entry.traceback
    click(qtbot, window, "logButton")
    text = window.log_text.toPlainText()
    assert "save failed" in text and "Traceback" in text
    assert window.worker.isRunning()


def test_copy_command_is_the_session_command_of_the_lanes(window, qtbot):
    first, second = two_lanes(window, qtbot)
    find(window, QSlider, "kSlider").setValue(5)
    qtbot.waitUntil(lambda: settled(window) and window.frame.lane(second.id).cfg.k == 5, timeout=3000)
    click(qtbot, window, "copyCommandButton")
    expected = session_command(command_configs(window.frame))
    assert expected.startswith("ganviz sweep") and "--grid k=1,5" in expected
    assert QGuiApplication.clipboard().text() == expected
    assert any(expected in e.text for e in window.log_entries())


def test_compare_combo_lists_the_modes_headlines(window, qtbot):
    two_lanes(window, qtbot)
    combo = find(window, QComboBox, "compareCombo")
    columns = [combo.itemData(i) for i in range(combo.count())]
    assert columns == [h.column for h in modes.spec("1d").headlines] and combo.currentData() == "jsd"
    window.worker.call(Session.step, 5)
    qtbot.waitUntil(lambda: settled(window) and window.frame.lanes[0].iteration == 5, timeout=5000)
    window.lane_grid.flush()
    assert all(len(curve.getData()[0]) >= 2 for curve in window.lane_grid.curves.values())


def test_grid_shape_follows_the_area_for_planes_of_locked_aspect():
    from ganviz.ui.lane_grid import grid_shape

    assert grid_shape(9, 947, 447, aspect=1.0) == (5, 2)  # a wide area: more columns than rows
    assert grid_shape(9, 447, 947, aspect=1.0) == (2, 5)  # a tall one: more rows
    assert grid_shape(9, 947, 447, aspect=None) == (3, 3)  # pictures that fill any cell: the squarest grid
    assert grid_shape(3, 691, 361, aspect=1.0) == (3, 1)
    assert grid_shape(4, 600, 600, aspect=1.0) == (2, 2)
    # near a tie (4 in a 2:1 area: 4 × 1 gives each plane only ~13% more) the squarest grid stays
    assert grid_shape(4, 947, 447, aspect=1.0) == (2, 2)
    assert grid_shape(1, 100, 100, aspect=1.0) == (1, 1)


def test_nine_2d_lanes_at_1024x700_fill_their_cells_and_the_single_view_keeps_equal_aspect(window, qtbot):
    """Small multiples of the 2-D plane: 5 × 2 in the wide grid, each plane stretched (at most 1.25×) to
    fill its cell instead of a square with empty strips beside it; one lane alone keeps one unit as long
    on both axes."""
    from ganviz.ui.view2d import Lane2D

    window.mode_combo.setCurrentIndex(window.mode_combo.findData("2d"))
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.mode == "2d", timeout=20000)
    assert window.view.plot.vb.state["aspectLocked"] == 1.0  # the full view: equal aspect
    window.resize(1024, 700)
    for seed in range(1, 9):
        window._post(Session.add_lane, seed=seed)
    window._post(Session.step, 1)
    qtbot.waitUntil(lambda: settled(window) and len(lane_views(window)) == 9 and window.width() == 1024
                    and all(v._extent is not None for v in window.lane_grid.views.values()), timeout=20000)
    grid = window.lane_grid
    qtbot.waitUntil(lambda: grid._shape == (5, 2), timeout=3000)
    assert [grid.grid.getItemPosition(grid.grid.indexOf(grid.views[i]))[:2] for i in grid._ids[:6]] == \
        [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]
    for view in grid.views.values():
        assert isinstance(view, Lane2D)
        x0, x1, y0, y1 = view._extent
        box = view.plot.vb
        per_px_x, per_px_y = box.viewPixelSize()
        width, height = (x1 - x0) / per_px_x, (y1 - y0) / per_px_y  # the target's region, in px
        fill = sorted((width / box.width(), height / box.height()))
        ratio, s = per_px_y / per_px_x, Lane2D.plane_stretch
        assert 1 / s - 1e-6 <= ratio <= s + 1e-6  # stretched at most plane_stretch
        assert fill[1] >= 0.9, (width, height, box.size())  # the cell filled one way ...
        # ... and the other way too, unless the stretch is at its limit
        assert fill[0] >= 0.9 or min(abs(ratio - s), abs(ratio - 1 / s)) < 1e-3, (width, height, box.size())
        assert fill[0] * fill[1] >= 0.75  # a square plane in these 5 × 2 cells covered ~2/3 of each
