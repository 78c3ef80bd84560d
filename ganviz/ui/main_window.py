"""The ganviz window: the knobs of Algorithm 1 on the left; the lanes' views in the centre.

The window keeps no copy of the settings: its controls show the selected lane's settings from the
newest Frame the training thread published, and every change goes to the Session as a typed
command through the worker (`worker.call(Session.set, lane_id, k=5)`).
"""

from __future__ import annotations

import math
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QDoubleValidator, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QFrame, QGridLayout, QGroupBox,
    QHBoxLayout, QLabel, QLineEdit, QMainWindow, QPlainTextEdit, QPushButton, QScrollArea, QSlider, QSpinBox,
    QStackedWidget, QToolButton, QVBoxLayout, QWhatsThis, QWidget,
)

from ganviz.core import modes
from ganviz.core.checkpoint import CheckpointError, find_checkpoint
from ganviz.core.command_line import session_command
from ganviz.core.config import K_MAX, K_MIN, LOSSES, LR_MAX, LR_MIN, MODES, ORACLE_MODES, ConfigError, TrainConfig
from ganviz.core.frame import Frame, LaneFrame, LogEntry
from ganviz.core.mnist.data import mnist_cache_dir
from ganviz.core.session import LANE_SETTINGS, LIVE_SETTINGS, Session
from ganviz.core.snapshot import Snapshot
from ganviz.core.tasks import task_class
from ganviz.ui import gui_gc
from ganviz.ui.base import ModeView
from ganviz.ui.lane_grid import LaneGrid, lane_titles
from ganviz.ui.phase import PhasePanel, show_fit_spans, show_ghost
from ganviz.ui.lessons_panel import install_lessons_panel
from ganviz.ui.mle_table import MLETable
from ganviz.ui.record_button import install_record_button
from ganviz.ui.saturation import install_saturation_dock
from ganviz.ui.worker import TrainWorker

LOSS_LABELS = {"nonsaturating": "non-saturating  −log D(G(z))", "minimax": "minimax  log(1 − D(G(z)))",
               "lsgan": "LSGAN  ½(D(G(z)))²  (codes −1/+1/0)", "wgan": "WGAN  −f(G(z)), critic clipped",
               "wgan-gp": "WGAN-GP  −f(G(z)), gradient penalty", "hinge": "hinge  −f(G(z))"}
LOSS_TIPS = ("the generator's objective. minimax and non-saturating train the paper's D (a probability) and "
             "switch live; LSGAN, WGAN, WGAN-GP and hinge train a different D (least squares, a critic), so "
             "picking one starts a new run of this lane with the settings it needs (e.g. WGAN-GP: k = 5, "
             "Adam β = (0, 0.9), learning rates 1e-4)")
LR_TICKS = 500  # the learning-rate sliders are log-scale: tick i ↦ LR_MIN · (LR_MAX/LR_MIN)^(i/LR_TICKS)
PANEL_WIDTH = 370      # the side panel's width when there is room; it shrinks to PANEL_MIN_WIDTH, or collapses
PANEL_MIN_WIDTH = 300
_START = ("<b>Start here:</b> press <b>▶ Play</b> (Space) to train, <b>Step</b> (S) for one iteration, "
          "<b>Fit D*</b> (F) to train only D, <b>Reset</b> (R). ")
START_HERE = {  # what to press, and what the colours are, per mode
    "1d": _START + ("Colours: <span style='color:#222222'>■ real data P_data</span>, "
                    "<span style='color:#2ca02c'>■ generated P_G</span>, <span style='color:#1f77b4'>■ discriminator "
                    "D(x)</span>, <span style='color:#ff7f0e'>╌ optimal D*</span>. Hover a control for what it means."),
    "2d": _START + ("Colours: <span style='color:#111111'>● real</span>, <span style='color:#2ca02c'>● generated"
                    "</span>; background D(x) from <span style='color:#b2182b'>0 (fake)</span> to "
                    "<span style='color:#2166ac'>1 (real)</span>. Hover a control for what it means."),
    "mnist": _START + "Left: G's digits on fixed noise; below: D's probability that each digit is real.",
}
FIT_TIPS = {
    "1d": ("freeze G and train only D until V(G,D) stops rising: D(x) → D*(x) = p_data/(p_data+p_G). At D = D*, "
           "V(G,D*) = −log 4 + 2·JSD, so the lower bound (V+log 4)/2 meets the JSD; it stays below when D cannot "
           "represent D* (a small net, sharp P_G) (F)"),
    "mnist": ("freeze G and train only D until V(G,D) stops rising: D approaches D* = p_data/(p_data+p_G) on the "
              "digits. Images have no density here, so there is no JSD to meet: watch D(x) on real digits rise "
              "and D(G(z)) fall (F)"),
}
FIT_TIPS["2d"] = FIT_TIPS["1d"]
PLAY_TEXT, PAUSE_TEXT = "▶ Play (Space)", "❚❚ Pause (Space)"  # ❚❚: DejaVu has no ⏸
K_TIP = ("k: how many discriminator updates Algorithm 1 makes before each generator update. The theory "
         "(Prop. 1) assumes D is optimal, D = D* = p_data/(p_data+p_G); a larger k keeps D closer to D*, so the "
         "bound (V+log 4)/2 stays near the JSD — at k times the cost per iteration.")
ORACLE_TIP = ("train G against the exact optimal discriminator D* = p_data/(p_data + p_G) of the current P_G "
              "(from the grid estimate, held fixed during each G update) instead of the network D: the lecture's "
              "idealised algorithm, gradient descent on the JSD itself. D keeps training, so its distance to D* "
              "stays visible. Where P_G and P_data do not overlap, D* is 0 on P_G's support, the JSD is flat at "
              "log 2 and G gets no gradient. 1-D and 2-D, minimax or non-saturating loss")
K_G_TIP = ("k_G: generator updates per iteration (1 in the paper's Algorithm 1; GAN Lab's counterpart of k). "
           "More G steps against a fixed D overshoot: G chases where D is wrong now, not where P_data is.")
LR_TIP = ("the {who}'s Adam step size, 1e-5 … 1 (log slider; type an exact value such as 3e-4 in the box). "
          "Too high and training oscillates or diverges; too low and nothing moves.")
SPEEDS = [("max", None), ("1000 it/s", 1000.0), ("300 it/s", 300.0), ("100 it/s", 100.0), ("30 it/s", 30.0),
          ("10 it/s", 10.0), ("3 it/s", 3.0), ("1 it/s", 1.0)]
# The toy modes start slow enough to follow (a bimodal 1-D run converges in ~2 s at max speed);
# "max" is the first entry of the speed list. MNIST starts at max.
DEFAULT_SPEED = {"1d": "30 it/s", "2d": "100 it/s", "dirac": "100 it/s"}


def view_class(mode: str) -> type[ModeView]:
    """The full single-lane view of `mode` (the registry names its lane view, which knows its full view)."""
    return modes.load(modes.spec(mode).view).full_view


def lr_to_tick(lr: float) -> int:
    return round(LR_TICKS * math.log(lr / LR_MIN) / math.log(LR_MAX / LR_MIN))


def tick_to_lr(tick: int) -> float:
    return float(f"{LR_MIN * (LR_MAX / LR_MIN) ** (tick / LR_TICKS):.3g}")


def lane_snapshot(frame: Frame, lane: LaneFrame) -> Snapshot:
    """One lane of a Frame in the form the full views draw."""
    return Snapshot(mode=frame.mode, iteration=lane.iteration, steps_per_s=frame.steps_per_s, device=frame.device,
                    state="diverged" if lane.state == "diverged" else frame.state, metrics=lane.metrics,
                    history=lane.history, views=lane.picture, message=lane.message, target=frame.target)


def save(session: Session, folder: str) -> None:
    """The window's Save run: the session's save, and a line in the log saying where it went."""
    session.save(folder)
    n = len(session.lanes)
    session.notice(f"Saved the run ({n} lane{'s' if n > 1 else ''}) to {folder}")


EXPORT_SAMPLES = 10_000  # File › Export samples…: points of the selected lane's P_G


def export_lane_samples(session: Session, lane_id: int, path: str, n: int = EXPORT_SAMPLES) -> None:
    """The window's Export samples…: n samples of a lane's P_G in the data's units to `path` (as
    `train --samples`), on the training thread (it owns G); the result, or why not, in the log."""
    from ganviz.runfiles import export_samples, reason

    lane = session.lane(lane_id)
    try:
        written = export_samples(lane.trainer.task, lane.trainer.G, n, lane.cfg.seed, Path(path))
    except (OSError, ValueError) as exc:
        session.error(f"Could not export samples to {path}: {reason(exc) if isinstance(exc, OSError) else exc}")
        return
    session.notice(f"Exported {written:,} samples of lane {lane_id} (its P_G, in the data's units) to {path}")


def command_configs(frame: Frame) -> list[TrainConfig]:
    """Each lane's settings with --steps = the iterations it has run (what is on screen)."""
    return [lane.cfg.replace(steps=lane.iteration) if lane.iteration > 0 else lane.cfg for lane in frame.lanes]


class SidePanel(QScrollArea):
    """The scrolling side panel: never narrower than its widest control plus the scroll bar (a fixed
    minimum cut the right edge off at 1024 px whenever a mode's controls were wider)."""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        content = self.widget().minimumSizeHint().width() if self.widget() is not None else 0
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(max(PANEL_MIN_WIDTH, content + bar + 2 * self.frameWidth()), hint.height())


class MainWindow(QMainWindow):
    """Builds a ready window in `mode` without starting training (press play, or Space)."""

    def __init__(self, mode: str = "1d", dataset: str | None = None, device: str = "auto"):
        super().__init__()
        self.setWindowTitle("ganviz — watch a GAN learn")
        self.resize(1280, 820)
        self._device = device
        self.views: dict[str, ModeView] = {}
        self.frame: Frame | None = None
        self.selected = 0                 # the lane the controls edit
        self._posted = 0                  # number of the last command this window posted
        self._select_newest_after = 0     # after this command (add lane) is applied, select the newest lane
        self._shown_mode = ""
        self._generation = -1
        self._synced: tuple | None = None  # (lane id, cfg) the controls show
        self._lanes_key: tuple = ()
        self._seen_log: LogEntry | None = None
        self._error = ""                  # the newest error, shown in the banner until the next run
        self._ui_log: list[LogEntry] = []  # messages of the window itself (open failed, command copied)
        self._drawn: tuple = ()
        self.log_dialog: QDialog | None = None
        self._status_text = ""
        self._readout_after = 0           # the Now box shows frames that applied this command (a new mode or target)

        self._build_controls()
        self.stack = QStackedWidget()
        self.lane_grid = LaneGrid()
        self.lane_grid.lane_clicked.connect(self.select_lane)
        self.stack.addWidget(self.lane_grid)
        self.banner = self._build_banner()

        central = QWidget()
        outer = QHBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        self.panel_scroll = scroll = SidePanel(objectName="sidePanel")
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setMaximumWidth(PANEL_WIDTH)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        right = QVBoxLayout()
        right.addLayout(self._build_top_row())
        right.addWidget(self.banner)
        right.addWidget(self.stack, 1)
        self.mle_table = MLETable()  # the MLE layer's table (THEORY §6), shown while the layer is on
        self.mle_table.hide()
        self._mle_drawn: tuple = ()
        right.addWidget(self.mle_table)
        outer.addLayout(right, 1)
        self.setCentralWidget(central)
        self._build_status_bar()
        self._build_menus()
        # Space/S/R/F work whatever has focus: window shortcuts for buttons, sliders and plots, and a key
        # filter on the text fields (spin boxes, the rate boxes), which would otherwise take the keys.
        self.keys = {Qt.Key.Key_Space: self.play_button.click, Qt.Key.Key_S: self.step_button.click,
                     Qt.Key.Key_R: self.reset_button.click, Qt.Key.Key_F: self.fit_button.click,
                     Qt.Key.Key_D: self.step_d_button.click, Qt.Key.Key_G: self.step_g_button.click}
        for key, slot in self.keys.items():
            QShortcut(QKeySequence(key), self, activated=slot)
        self._key_filter = _TrainingKeys(self.keys, self)
        self._catch_keys(self)

        gui_gc.hold()  # cycles are collected on this thread only while the window's threads run
        try:
            session = Session(TrainConfig.for_mode(mode, dataset=dataset, device=device))
        except BaseException:
            gui_gc.release()
            raise
        self._gc_held = True
        self.worker = TrainWorker(session)
        self._show_mode(mode)
        self._sync_controls(session.cfg, session.lanes[0].id)
        self.speed_combo.setCurrentIndex(max(0, self.speed_combo.findText(DEFAULT_SPEED.get(mode, "max"))))
        session.set_speed(self.speed_combo.currentData())
        self.worker.start()
        install_lessons_panel(self)  # the Lessons dock and menu (ganviz.ui.lessons_panel)
        install_record_button(self)  # Record in the status bar (ganviz.ui.record_button)
        install_saturation_dock(self)  # View › Saturation panel (ganviz.ui.saturation)
        self.saturation_dock.visibilityChanged.connect(lambda _: self._draw_saturation())

        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / 60))  # poll faster than the worker publishes
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    # --- building -------------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.panel = QWidget()
        layout = QVBoxLayout(self.panel)

        run_box = QGroupBox("Run")
        form = QFormLayout(run_box)
        self.mode_combo = QComboBox(objectName="modeCombo")
        for mode in MODES:
            self.mode_combo.addItem(modes.spec(mode).label, mode)
        self.mode_combo.currentIndexChanged.connect(self._mode_chosen)
        self.mode_combo.setToolTip("what the GAN learns: a 1-D density, 2-D points, or digit images "
                                   "(changing it starts every lane again with that mode's defaults)")
        form.addRow("Mode", self.mode_combo)
        self.dataset_combo = QComboBox(objectName="datasetCombo")
        self.dataset_combo.currentIndexChanged.connect(self._dataset_chosen)
        self.dataset_combo.setToolTip("P_data, the distribution G learns to imitate (changing it starts every lane again)")
        form.addRow("Target P_data", self.dataset_combo)
        file_row = QGridLayout()
        self.save_button = QPushButton("Save run…", objectName="saveRunButton")
        self.save_button.setToolTip("save every lane (weights, optimizers, random state, history) to a folder")
        self.save_button.clicked.connect(self._choose_save_folder)
        self.open_button = QPushButton("Open run…", objectName="openRunButton")
        self.open_button.setToolTip("open a saved run, or the folder of `ganviz train --out DIR`")
        self.open_button.clicked.connect(self._choose_open_folder)
        self.copy_button = QPushButton("Copy command", objectName="copyCommandButton")
        self.copy_button.setToolTip("copy the `ganviz train` (or `ganviz sweep`) line that reproduces these lanes")
        self.copy_button.clicked.connect(self.copy_command)
        self.log_button = QPushButton("Message log", objectName="logButton")
        self.log_button.setToolTip("every notice and error, with its traceback")
        self.log_button.clicked.connect(self.show_log)
        for i, button in enumerate((self.save_button, self.open_button, self.copy_button, self.log_button)):
            file_row.addWidget(button, *divmod(i, 2))
        form.addRow(file_row)
        layout.addWidget(run_box)

        lanes_box = QGroupBox("Lanes")
        form = QFormLayout(lanes_box)
        self.lane_combo = QComboBox(objectName="laneCombo")
        self.lane_combo.setToolTip("the lane the settings below change (or click a lane's view)")
        self.lane_combo.currentIndexChanged.connect(lambda _: self.select_lane(self.lane_combo.currentData()))
        form.addRow("Edit lane", self.lane_combo)
        row = QHBoxLayout()
        self.add_lane_button = QPushButton("Add lane", objectName="addLaneButton")
        self.add_lane_button.setToolTip("a new lane (from iteration 0) with the selected lane's settings")
        self.add_lane_button.clicked.connect(self.add_lane)
        self.remove_lane_button = QPushButton("Remove lane", objectName="removeLaneButton")
        self.remove_lane_button.setToolTip("remove the selected lane (the others go on)")
        self.remove_lane_button.clicked.connect(self.remove_lane)
        self.remove_lane_button.setEnabled(False)
        row.addWidget(self.add_lane_button)
        row.addWidget(self.remove_lane_button)
        form.addRow(row)
        self.seed_spin = QSpinBox(objectName="seedSpin")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("the same seed gives the same run after reset (a new seed starts this lane again)")
        self.seed_spin.editingFinished.connect(self._seed_changed)
        form.addRow("Seed", self.seed_spin)
        layout.addWidget(lanes_box)

        algo_box = QGroupBox("Algorithm 1 (selected lane)")
        form = QFormLayout(algo_box)
        self.k_slider = QSlider(Qt.Orientation.Horizontal, objectName="kSlider")
        self.k_slider.setRange(K_MIN, K_MAX)
        self.k_label = QLabel()
        self.k_slider.valueChanged.connect(self._k_changed)
        self.k_slider.setToolTip(K_TIP)
        form.addRow("k (D steps / G step)", _with_value(self.k_slider, self.k_label))
        self.k_g_slider = QSlider(Qt.Orientation.Horizontal, objectName="kGSlider")
        self.k_g_slider.setRange(K_MIN, K_MAX)
        self.k_g_label = QLabel()
        self.k_g_slider.valueChanged.connect(self._k_g_changed)
        self.k_g_slider.setToolTip(K_G_TIP)
        form.addRow("k_G (G steps)", _with_value(self.k_g_slider, self.k_g_label))
        self.lr_d_slider, self.lr_d_edit = self._lr_slider("lrDSlider", "lrDEdit", "lr_d", "discriminator")
        self.lr_d_label = self.lr_d_edit
        form.addRow("learning rate of D", _with_value(self.lr_d_slider, self.lr_d_edit))
        self.lr_g_slider, self.lr_g_edit = self._lr_slider("lrGSlider", "lrGEdit", "lr_g", "generator")
        self.lr_g_label = self.lr_g_edit
        form.addRow("learning rate of G", _with_value(self.lr_g_slider, self.lr_g_edit))
        self.loss_combo = QComboBox(objectName="lossCombo")
        for loss in ("nonsaturating", "minimax", *(name for name in LOSSES if name not in ("nonsaturating", "minimax"))):
            self.loss_combo.addItem(LOSS_LABELS[loss], loss)
        self.loss_combo.setToolTip(LOSS_TIPS + ". minimax descends log(1 − D(G(z))), whose gradient vanishes "
                                   "when D confidently rejects the fakes (D(G(z)) ≈ 0), i.e. at the beginning: it "
                                   "saturates. non-saturating ascends log D(G(z)) instead: the same fixed point, "
                                   "strong gradients early")
        self.loss_combo.currentIndexChanged.connect(lambda _: self._loss_chosen(self.loss_combo.currentData()))
        form.addRow(QLabel("G loss"))
        form.addRow(self.loss_combo)  # the whole width: beside its name the losses' formulas were cut off
        self.oracle_check = QCheckBox("G against the exact D*", objectName="dOracleCheck")
        self.oracle_check.setToolTip(ORACLE_TIP)
        self.oracle_check.toggled.connect(lambda on: self._live_change(d_oracle=on))
        form.addRow(self.oracle_check)
        self.restore_button = QPushButton("Restore defaults", objectName="restoreDefaultsButton")
        self.restore_button.setToolTip("set the selected lane's k, k_G, learning rates, loss and noise back to its "
                                       "mode's defaults (a changed noise or seed starts the lane again)")
        self.restore_button.clicked.connect(self.restore_defaults)
        form.addRow(self.restore_button)
        layout.addWidget(algo_box)

        play_box = QGroupBox("Training (every lane)")
        grid = QVBoxLayout(play_box)
        row = QHBoxLayout()
        self.play_button = QPushButton(PLAY_TEXT, objectName="playButton")
        self.play_button.setToolTip("train every lane: repeat Algorithm 1's iteration (k D updates, then a G update) "
                                    "until paused (Space)")
        self.play_button.setCheckable(True)
        self.play_button.setText(PAUSE_TEXT)  # as wide as its wider text, so Play does not widen the panel
        self.play_button.setMinimumWidth(self.play_button.sizeHint().width())
        self.play_button.setText(PLAY_TEXT)
        self.play_button.toggled.connect(self._play_toggled)
        self.step_button = QPushButton("Step (S)", objectName="stepButton")
        self.step_button.setToolTip("one iteration of Algorithm 1: k D updates, then one G update (S)")
        self.step_button.clicked.connect(self._step)
        self.step_d_button = QPushButton("Step D (D)", objectName="stepDButton")
        self.step_d_button.setToolTip("one discriminator update with G fixed: ascend V(G,D) on a minibatch. "
                                      "An iteration is complete only after its G update (D)")
        self.step_d_button.clicked.connect(self._step_d)
        self.step_g_button = QPushButton("Step G (G)", objectName="stepGButton")
        self.step_g_button.setToolTip("one generator update with D fixed: descend G's loss on a minibatch; "
                                      "this completes the iteration (G)")
        self.step_g_button.clicked.connect(self._step_g)
        self.reset_button = QPushButton("Reset (R)", objectName="resetButton")
        self.reset_button.setToolTip("new weights from each lane's seed: the same runs again (R)")
        self.reset_button.clicked.connect(self._reset)
        self.step_button.setText("Step (S)")
        for button in (self.play_button, self.reset_button):  # the steps in one row below: with them here,
            row.addWidget(button)                              # "❚❚ Pause" made this row the panel's widest
        grid.addLayout(row)
        phase_row = QHBoxLayout()
        phase_row.addWidget(self.step_button)
        phase_row.addWidget(self.step_d_button)
        phase_row.addWidget(self.step_g_button)
        grid.addLayout(phase_row)
        self.fit_button = QPushButton("Fit D* (F)", objectName="fitDButton")
        self.fit_button.setToolTip(FIT_TIPS["1d"])
        self.fit_button.clicked.connect(self._fit_d)
        grid.addWidget(self.fit_button)
        speed_row = QHBoxLayout()
        speed_row.addWidget(QLabel("Speed"))
        self.speed_combo = QComboBox(objectName="speedCombo")
        for label, rate in SPEEDS:
            self.speed_combo.addItem(label, rate)
        self.speed_combo.currentIndexChanged.connect(
            lambda _: self._post(Session.set_speed, self.speed_combo.currentData()))
        self.speed_combo.setToolTip("limit iterations per second to watch training in slow motion (max: as fast "
                                    "as the machine trains)")
        speed_row.addWidget(self.speed_combo, 1)
        max_button = QPushButton("max", objectName="speedMaxButton")
        max_button.setToolTip("train as fast as the machine goes (the toy modes start slower, to be followed)")
        max_button.clicked.connect(lambda: self.speed_combo.setCurrentIndex(0))
        speed_row.addWidget(max_button)
        grid.addLayout(speed_row)
        layout.addWidget(play_box)
        self.phase_panel = PhasePanel()
        self.phase_panel.slow_motion_changed.connect(lambda rate: self._post(Session.set_slow_motion, rate))
        self.phase_panel.slow_motion_changed.connect(lambda rate: self._slow_motion_on() if rate else None)
        layout.addWidget(self.phase_panel)

        self.mode_box = QGroupBox("Mode settings")
        self.mode_box_layout = QVBoxLayout(self.mode_box)
        layout.addWidget(self.mode_box)

        readout = QGroupBox("Now (selected lane)")
        form = self.readout_form = QFormLayout(readout)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a long value goes under its name
        self.step_label = QLabel("0", objectName="stepLabel")
        form.addRow("iteration", self.step_label)
        self.jsd_label = QLabel("—", objectName="jsdLabel")
        self.jsd_label.setToolTip("Jensen–Shannon divergence JSD(P_data‖P_G) in nats, computed from the densities: "
                                  "0 when P_G = P_data, log 2 ≈ 0.693 when they do not overlap. G minimises it "
                                  "when D is optimal")
        form.addRow("JSD (nats)", self.jsd_label)
        self.bound_label = QLabel("—", objectName="boundLabel")
        bound_tip = ("lower bound on the JSD from the current D: (V(G,D)+log 4)/2 ≤ JSD, with equality only at "
                     "D = D* (Goodfellow et al., Thm. 1). Far from D* it means little and can be negative; "
                     "Fit D* makes it tight")
        self._bound_tip = bound_tip
        self.bound_label.setToolTip(bound_tip)
        self.bound_label.setWordWrap(True)  # "(negative: D far from D*)" must not widen the panel past the window
        form.addRow("lower bound (V+log 4)/2", self.bound_label)
        form.labelForField(self.bound_label).setToolTip(bound_tip)
        self.target_label = QLabel("", objectName="targetLabel")
        self.target_label.setWordWrap(True)
        form.addRow("P_data", self.target_label)
        layout.addWidget(readout)
        layout.addStretch(1)
        for widget in self.panel.findChildren(QWidget):  # Help › What's this? says what the tooltip says
            if widget.toolTip() and not widget.whatsThis():
                widget.setWhatsThis(widget.toolTip())
        for combo in self.panel.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)

    def _lr_slider(self, name: str, edit_name: str, field: str, who: str) -> tuple[QSlider, QLineEdit]:
        """A log-scale slider and, beside it, a box where the exact rate can be typed (e.g. 3e-4)."""
        slider = QSlider(Qt.Orientation.Horizontal, objectName=name)
        slider.setRange(0, LR_TICKS)
        edit = QLineEdit(objectName=edit_name)
        validator = QDoubleValidator(edit)  # any number: a rate out of range is refused with a message, not silently
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        edit.setValidator(validator)
        edit.setFixedWidth(edit.fontMetrics().horizontalAdvance("0.00000") + 14)
        tip = LR_TIP.format(who=who)
        slider.setToolTip(tip)
        edit.setToolTip(tip)

        def moved(tick: int) -> None:
            lr = tick_to_lr(tick)
            edit.setText(f"{lr:.3g}")
            self._live_change(**{field: lr})

        def typed() -> None:
            try:
                lr = float(edit.text())
            except ValueError:
                lr = math.nan
            if not LR_MIN <= lr <= LR_MAX:
                self.say(f"learning rate must be between {LR_MIN:g} and {LR_MAX:g}; kept {getattr(self.cfg, field):g}")
                edit.setText(f"{getattr(self.cfg, field):.3g}")
                return
            slider.blockSignals(True)
            slider.setValue(lr_to_tick(lr))
            slider.blockSignals(False)
            if lr != getattr(self.cfg, field):
                self._live_change(**{field: lr})

        slider.valueChanged.connect(moved)
        edit.editingFinished.connect(typed)
        return slider, edit

    def _build_top_row(self) -> QHBoxLayout:
        """Above the views: the button that folds the side panel away, and the dismissible Start here line."""
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.collapse_button = QToolButton(objectName="collapsePanelButton")
        self.collapse_button.setCheckable(True)
        self.collapse_button.setText("◀")
        self.collapse_button.setToolTip("hide the settings panel (more room for the plots); press again to show it")
        self.collapse_button.toggled.connect(self.collapse_panel)
        row.addWidget(self.collapse_button, 0, Qt.AlignmentFlag.AlignTop)
        self.start_here = QFrame(objectName="startHere")
        self.start_here.setStyleSheet("QFrame#startHere { background: #eef5fc; border: 1px solid #9ecae1; }")
        inner = QHBoxLayout(self.start_here)
        inner.setContentsMargins(6, 2, 2, 2)
        self.start_here_label = QLabel(START_HERE["1d"], objectName="startHereLabel")
        self.start_here_label.setWordWrap(True)
        self.start_here_label.setMinimumWidth(120)
        inner.addWidget(self.start_here_label, 1)
        close = QToolButton(objectName="startHereCloseButton")
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("hide this line")
        close.clicked.connect(self.start_here.hide)
        inner.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.start_here, 1)
        return row

    def collapse_panel(self, collapsed: bool) -> None:
        self.panel_scroll.setVisible(not collapsed)
        self.collapse_button.setText("▶" if collapsed else "◀")
        self.collapse_button.setChecked(collapsed)

    def _catch_keys(self, root: QWidget) -> None:
        """Let Space/S/R/F reach the training buttons from the text fields under `root` too."""
        for widget in (*root.findChildren(QAbstractSpinBox), *root.findChildren(QLineEdit)):
            if isinstance(widget.parent(), QAbstractSpinBox) or widget.property("ganvizKeys"):
                continue
            widget.setProperty("ganvizKeys", True)
            widget.installEventFilter(self._key_filter)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._show_status(self._status_text)

    def _build_banner(self) -> QFrame:
        banner = QFrame(objectName="divergedBanner")
        banner.setStyleSheet("QFrame#divergedBanner { background: #fde2e1; border: 1px solid #d62728; }")
        row = QHBoxLayout(banner)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        row.addWidget(self.banner_text, 1)
        button = QPushButton("Reset", objectName="bannerResetButton")
        button.setToolTip("new weights, the same settings (a run that diverged may diverge again)")
        button.clicked.connect(self._reset)
        row.addWidget(button)
        defaults = QPushButton("Reset with defaults", objectName="bannerDefaultsButton")
        defaults.setToolTip("start every lane again with the mode's default settings (the target kept)")
        defaults.clicked.connect(self._reset_defaults)
        row.addWidget(defaults)
        banner.hide()
        return banner

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.rate_label = QLabel("", objectName="rateLabel")
        self.device_label = QLabel("", objectName="deviceLabel")
        bar.addPermanentWidget(self.rate_label)
        bar.addPermanentWidget(self.device_label)
        # Room for the usual text, so the label does not grow past a message already cut to fit.
        self.rate_label.setMinimumWidth(self.rate_label.fontMetrics().horizontalAdvance(
            "iteration 99,999 · 9,999 it/s · running") + 4)
        self._status_text = ""

    def _show_status(self, text: str, timeout: int = 15000) -> None:
        """A message in the status line, elided to the room left by the permanent labels (the full
        text is in its tooltip and in View › Message log)."""
        self._status_text = text
        if not text:
            return
        bar = self.statusBar()
        permanent = [w for w in bar.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
                     if not w.isHidden()]  # the labels, the Record button, the size grip
        room = bar.width() - sum(max(w.sizeHint().width(), w.minimumWidth()) + 8 for w in permanent) - 24
        shown = bar.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, max(room, 80))
        if shown != bar.currentMessage():
            bar.showMessage(shown, timeout)
        bar.setToolTip(text)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, keys, slot in (("Save run…", QKeySequence.StandardKey.Save, self._choose_save_folder),
                                 ("Open run…", QKeySequence.StandardKey.Open, self._choose_open_folder),
                                 ("Copy command", None, self.copy_command),
                                 ("Export samples…", None, self._choose_samples_file)):
            action = QAction(text, self)
            if keys is not None:
                action.setShortcut(keys)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        file_menu.addSeparator()
        self.quit_action = QAction("Quit", self, objectName="quitAction")
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)
        self.addAction(self.quit_action)  # works with the menu bar hidden (e.g. offscreen) too
        view_menu = self.view_menu = self.menuBar().addMenu("&View")
        action = QAction("Message log", self)
        action.triggered.connect(self.show_log)
        view_menu.addAction(action)
        action = QAction("Settings panel", self, checkable=True, checked=True)
        action.toggled.connect(lambda on: self.collapse_panel(not on))
        self.collapse_button.toggled.connect(lambda collapsed: action.setChecked(not collapsed))
        view_menu.addAction(action)
        action = QAction("Start here line", self)
        action.triggered.connect(self.start_here.show)
        view_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(QWhatsThis.createAction(self))
        action = QAction("Keys", self)
        action.triggered.connect(lambda: self.say(
            "Keys: Space play/pause · S one iteration · D one D update · G one G update · R reset · F fit D* · "
            "Ctrl+S save · Ctrl+O open · Ctrl+Q quit"))
        help_menu.addAction(action)

    # --- modes ----------------------------------------------------------------------------------
    def _show_mode(self, mode: str) -> None:
        """Make `mode`'s full view and its settings the visible ones (the frame's mode, not the combo's)."""
        if mode not in self.views:
            view = view_class(mode)()
            view.restart_requested.connect(self._restart_with)
            view.message.connect(lambda text: self.say(text))
            mle_controls = getattr(view, "mle_controls", None)
            if mle_controls is not None:
                mle_controls.changed.connect(lambda k: self._post(Session.set_mle, k))
            self.views[mode] = view
            self.stack.addWidget(view)
            self._catch_keys(view)
        self._shown_mode = mode
        view = self.views[mode]
        self.stack.setCurrentWidget(view)
        while self.mode_box_layout.count():
            item = self.mode_box_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().setParent(None)
        extra = view.extra_controls()
        self.mode_box.setVisible(extra is not None)
        if extra is not None:
            self.mode_box_layout.addWidget(extra)
            extra.show()
            self._catch_keys(extra)
            for widget in extra.findChildren(QWidget):
                if widget.toolTip() and not widget.whatsThis():
                    widget.setWhatsThis(widget.toolTip())
        self.start_here_label.setText(START_HERE.get(mode, _START))
        self.fit_button.setToolTip(FIT_TIPS.get(mode, FIT_TIPS["1d"]))
        has_jsd = mode != "mnist"  # images have no density: no JSD, no bound
        for widget in (self.jsd_label, self.bound_label):
            widget.setVisible(has_jsd)
            self.readout_form.labelForField(widget).setVisible(has_jsd)
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        for name in task_class(mode).datasets:
            self.dataset_combo.addItem(name, name)
        self.dataset_combo.blockSignals(False)
        # Losses the mode cannot train with (the registry's extra["losses"], e.g. the Dirac-GAN's) are greyed out.
        allowed = modes.spec(mode).extra.get("losses")
        items = self.loss_combo.model()
        for i in range(self.loss_combo.count()):
            items.item(i).setEnabled(allowed is None or self.loss_combo.itemData(i) in allowed)
        self._synced = None

    @property
    def view(self) -> ModeView:
        """The full single-lane view of the mode on screen."""
        return self.views[self._shown_mode]

    @property
    def cfg(self) -> TrainConfig:
        """The selected lane's settings as the session last published them."""
        lane = self.frame.lane(self.selected) if self.frame is not None else None
        return lane.cfg if lane is not None else self.worker.session.cfg

    def _sync_controls(self, cfg: TrainConfig, lane_id: int) -> None:
        """Show `cfg` in the controls without sending changes back (only when it changed)."""
        if self._synced == (lane_id, cfg):
            return
        self._synced = (lane_id, cfg)
        widgets = (self.mode_combo, self.dataset_combo, self.k_slider, self.k_g_slider, self.lr_d_slider,
                   self.lr_g_slider, self.loss_combo, self.seed_spin, self.oracle_check)
        for w in widgets:
            w.blockSignals(True)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(cfg.mode))
        if self.dataset_combo.findData(cfg.dataset) < 0:
            self.dataset_combo.addItem(_short(cfg.dataset), cfg.dataset)
        self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(cfg.dataset))
        if cfg.mode == "mnist":  # images loaded by the view replace the digits: the combo says whose
            index = self.dataset_combo.currentIndex()
            text = _short(cfg.dataset)
            if cfg.data_dir:
                downloaded = Path(cfg.data_dir).expanduser().resolve() == mnist_cache_dir().resolve()
                text = f"{cfg.dataset} (downloaded)" if downloaded else f"own: {_short(Path(cfg.data_dir).name)}"
            self.dataset_combo.setItemText(index, text)
            self.dataset_combo.setItemData(index, cfg.data_dir or "", Qt.ItemDataRole.ToolTipRole)
        self.k_slider.setValue(cfg.k)
        self.k_label.setText(str(cfg.k))
        self.k_g_slider.setValue(cfg.k_g)
        self.k_g_label.setText(str(cfg.k_g))
        self.lr_d_slider.setValue(lr_to_tick(cfg.lr_d))
        self.lr_g_slider.setValue(lr_to_tick(cfg.lr_g))
        for edit, lr in ((self.lr_d_edit, cfg.lr_d), (self.lr_g_edit, cfg.lr_g)):
            if not edit.hasFocus():  # never overwrite what the user is typing
                edit.setText(f"{lr:.3g}" if float(f"{lr:.3g}") == lr else repr(lr))
        self.loss_combo.setCurrentIndex(self.loss_combo.findData(cfg.loss))
        self.seed_spin.setValue(cfg.seed)
        self.oracle_check.setChecked(cfg.d_oracle)
        self.oracle_check.setEnabled(cfg.mode in ORACLE_MODES and cfg.loss in ("minimax", "nonsaturating"))
        for w in widgets:
            w.blockSignals(False)
        sync = getattr(self.views.get(cfg.mode), "sync_to_config", None)
        if sync is not None:
            sync(cfg)

    # --- commands to the session ----------------------------------------------------------------
    def _post(self, command, *args: Any, **kwargs: Any) -> int:
        self._posted = self.worker.call(command, *args, **kwargs)
        return self._posted

    def _mode_chosen(self, _index: int) -> None:
        mode = self.mode_combo.currentData()
        if mode != self._shown_mode:
            self._error = ""
            self._readout_after = self._post(Session.configure, mode=mode)  # until then, no old run's numbers
            self._blank_readout()
            d = TrainConfig.for_mode(mode)
            self.say(f"Mode {modes.spec(mode).label}: every lane starts again with this mode's defaults "
                     f"(k = {d.k}, k_G = {d.k_g}, lr_D = {d.lr_d:g}, lr_G = {d.lr_g:g}, loss {d.loss}, "
                     f"noise dim {d.noise_dim})")

    def _dataset_chosen(self, _index: int) -> None:
        dataset = self.dataset_combo.currentData()
        if dataset and dataset != self.cfg.dataset:
            self._error = ""
            self._readout_after = self._post(Session.configure, dataset=dataset)
            self._blank_readout()

    def _blank_readout(self) -> None:
        """The Now box while a new mode's or target's run is being built: "—", not the old run's numbers."""
        for label in (self.step_label, self.jsd_label, self.bound_label):
            label.setText("—")

    def _restart_with(self, changes: dict[str, Any]) -> None:
        """A view's setting that needs new weights: per-lane ones (noise) start the selected lane
        again; shared ones (the target, its spread, a data folder) start every lane again. A view
        of another mode (data loaded in the background while the mode was switched) is not obeyed."""
        sender = self.sender()
        if isinstance(sender, ModeView) and (sender.mode != self._shown_mode
                                             or sender.mode != self.mode_combo.currentData()):
            self.say(f"not applied: the window has left the {modes.spec(sender.mode).label} mode meanwhile")
            return
        self._error = ""
        if set(changes) <= set(LIVE_SETTINGS) | set(LANE_SETTINGS):
            self._post(Session.set, self.selected, **changes)
        else:
            self._post(Session.configure, **changes)

    def _seed_changed(self) -> None:
        if self.seed_spin.value() != self.cfg.seed:
            self._post(Session.set, self.selected, seed=self.seed_spin.value())

    def restore_defaults(self) -> None:
        """The selected lane's settings back to its mode's defaults (the noise and seed only if changed:
        they start the lane again)."""
        cfg = self.cfg
        d = cfg.defaults()  # of the lane's model too (the image mode's MLP has its own)
        changes = {name: getattr(d, name) for name in (*LIVE_SETTINGS, *LANE_SETTINGS)
                   if getattr(d, name) != getattr(cfg, name) and name != "seed"}
        if not changes:
            self.say("The selected lane already has its mode's default settings")
            return
        self._error = ""
        self._post(Session.set, self.selected, **changes)
        restart = " (a new run of this lane)" if set(changes) - set(LIVE_SETTINGS) else ""
        self.say("Restored defaults" + restart + ": " + ", ".join(f"{k} = {v:g}" if isinstance(v, float) else
                                                               f"{k} = {v}" for k, v in changes.items()))

    def _live_change(self, **changes: Any) -> None:
        assert set(changes) <= set(LIVE_SETTINGS)
        self._post(Session.set, self.selected, **changes)

    def _loss_chosen(self, loss: str) -> None:
        """A loss whose D is not the paper's has no D* to train G against: the oracle goes off with it."""
        if self.cfg.d_oracle and loss not in ("minimax", "nonsaturating"):
            self._live_change(loss=loss, d_oracle=False)
        else:
            self._live_change(loss=loss)

    def _k_changed(self, k: int) -> None:
        self.k_label.setText(str(k))
        self._live_change(k=k)

    def _k_g_changed(self, k_g: int) -> None:
        self.k_g_label.setText(str(k_g))
        self._live_change(k_g=k_g)

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText(PAUSE_TEXT if playing else PLAY_TEXT)
        if playing:
            self._error = ""
        self._post(Session.play if playing else Session.pause)

    def _step(self) -> None:
        self._show_stopped()
        self._post(Session.step, 1)

    def _step_d(self) -> None:
        self._show_stopped()
        self._post(Session.step_d)
        self._show_phase_panel()

    def _step_g(self) -> None:
        self._show_stopped()
        self._post(Session.step_g)
        self._show_phase_panel()

    def _slow_motion_on(self) -> None:
        """Slow motion shows the phases: the phase line in view, and in 2-D the gradient arrows that push
        the samples in each G update (a layer that is off by default)."""
        self._show_phase_panel()
        arrows = getattr(self.view, "layer_boxes", {}).get("showArrows")
        if arrows is not None:
            arrows.setChecked(True)

    def _show_phase_panel(self) -> None:
        """Scroll the side panel to the phase line and the model overview: slow motion and Step D/G are
        about them, and below 1280×820 they sit under the fold."""
        self.panel_scroll.ensureWidgetVisible(self.phase_panel, 0, 0)

    def _reset_defaults(self) -> None:
        self._show_stopped()
        self._error = ""
        self.banner.hide()
        self._post(Session.reset_defaults)

    def _reset(self) -> None:
        self._show_stopped()
        self._error = ""
        self.banner.hide()
        self._post(Session.reset)

    def _fit_d(self) -> None:
        self._show_stopped()
        self._post(Session.fit_d_star)

    def _show_stopped(self) -> None:
        """Show the play button as stopped without posting 'pause'."""
        self._show_playing(False)

    def _show_playing(self, playing: bool) -> None:
        if self.play_button.isChecked() != playing:
            self.play_button.blockSignals(True)
            self.play_button.setChecked(playing)
            self.play_button.setText(PAUSE_TEXT if playing else PLAY_TEXT)
            self.play_button.blockSignals(False)

    # --- lanes ----------------------------------------------------------------------------------
    def add_lane(self) -> None:
        """A new lane with the selected lane's settings; it becomes the selected one."""
        self._select_newest_after = self._post(Session.add_lane, self.selected)

    def remove_lane(self) -> None:
        if self.frame is not None and len(self.frame.lanes) > 1:
            self._post(Session.remove_lane, self.selected)

    def select_lane(self, lane_id: int | None) -> None:
        if lane_id is None or lane_id == self.selected:
            return
        self.selected = lane_id
        if self.frame is not None:
            self._draw(self.frame, force=True)

    # --- saving, opening, the command line, the log ---------------------------------------------
    def _choose_save_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save run to folder")
        if folder:
            self.save_run(folder)

    def _choose_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a saved run (or a `ganviz train --out` folder)")
        if folder:
            self.open_run(folder)

    def save_run(self, path: str | Path) -> int:
        """Save every lane to `path` on the training thread (it owns the session); the result
        (saved, or why not) appears in the status bar and the message log."""
        self.say(f"Saving the run to {path}…")
        return self._post(save, str(path))

    def open_run(self, path: str | Path) -> bool:
        """Open the run saved in `path` (or in `path`/checkpoint) in place of the current one; on a
        missing, foreign or damaged folder say why and keep the current run."""
        folder = find_checkpoint(path)
        if folder is None:
            self.say(f"Could not open {path}: no saved ganviz run there (nor in its checkpoint/ folder)", error=True)
            return False
        try:
            session = Session.load(folder)
        except (CheckpointError, ConfigError, ValueError, OSError) as exc:
            self.say(f"Could not open {path}: {exc}", error=True, tb=traceback.format_exc())
            return False
        session.notice(f"Opened the run in {folder} ({len(session.lanes)} lanes, paused)")
        self._show_stopped()
        self._error = ""
        self._posted = self.worker.replace_session(session)
        self._posted = self._post(Session.set_slow_motion, self.phase_panel.rate())
        return True

    def _choose_samples_file(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export samples of the selected lane's P_G", "samples.csv",
                                              "CSV files (*.csv)")
        if path:
            self.export_samples(path)

    def export_samples(self, path: str | Path, n: int = EXPORT_SAMPLES) -> int:
        """Write n samples of the selected lane's generator to `path` (a CSV in the data's units, headed by
        its column names); the result appears in the status bar and the message log."""
        if self.cfg.mode not in ("1d", "2d"):
            self.say("Export samples: only the 1-D and 2-D modes have point samples to export", error=True)
            return 0
        return self._post(export_lane_samples, self.selected, str(path), n)

    def command_text(self) -> str:
        return session_command(command_configs(self.frame)) if self.frame is not None else ""

    def copy_command(self) -> str:
        """Put the `ganviz train`/`ganviz sweep` line(s) reproducing the lanes on the clipboard."""
        text = self.command_text()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.say("Copied to the clipboard: " + text)
        return text

    def say(self, text: str, error: bool = False, tb: str = "") -> None:
        """A message of the window itself: in the status bar and the message log."""
        self._ui_log.append(LogEntry(time.time(), text, tb))
        self._show_status(text)
        if error:
            self._error = text
            self._show_banner()
        self._refresh_log()

    def log_entries(self) -> list[LogEntry]:
        entries = list(self.frame.log if self.frame is not None else ()) + self._ui_log
        return sorted(entries, key=lambda e: e.time)

    def show_log(self) -> None:
        if self.log_dialog is None:
            dialog = self.log_dialog = QDialog(self)
            dialog.setWindowTitle("ganviz — message log")
            dialog.resize(760, 460)
            layout = QVBoxLayout(dialog)
            self.log_text = QPlainTextEdit(objectName="messageLog")
            self.log_text.setReadOnly(True)
            self.log_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            layout.addWidget(self.log_text)
            buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            buttons.rejected.connect(dialog.hide)
            layout.addWidget(buttons)
        self._refresh_log(force=True)
        self.log_dialog.show()
        self.log_dialog.raise_()

    def _refresh_log(self, force: bool = False) -> None:
        if self.log_dialog is None or not (force or self.log_dialog.isVisible()):
            return
        lines = []
        for entry in self.log_entries():
            lines.append(f"{time.strftime('%H:%M:%S', time.localtime(entry.time))}  {entry.text}")
            if entry.traceback:
                lines += ["    " + line for line in entry.traceback.rstrip().splitlines()]
        self.log_text.setPlainText("\n".join(lines))
        self.log_text.verticalScrollBar().setValue(self.log_text.verticalScrollBar().maximum())

    # --- drawing --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Pull the newest Frame (if any) and draw it."""
        frame = self.worker.take_frame()
        if frame is None:
            return
        self.frame = frame
        self._draw(frame)

    def _draw(self, frame: Frame, force: bool = False) -> None:
        settled = frame.applied >= self._posted  # every command this window posted is in this frame
        ids = [lane.id for lane in frame.lanes]
        if self._select_newest_after and frame.applied >= self._select_newest_after:
            self._select_newest_after = 0
            self.selected = max(ids)
        if self.selected not in ids:
            self.selected = ids[0]
        lane = frame.lane(self.selected)
        if frame.mode != self._shown_mode:
            self._show_mode(frame.mode)
        new_run = frame.generation != self._generation
        if new_run:
            self._generation = frame.generation
            self.view.clear()
            self.lane_grid.clear()
            self._drawn = ()
        titles = tuple(zip(ids, lane_titles(frame)))
        if titles != self._lanes_key:
            self._lanes_key = titles
            self.lane_combo.blockSignals(True)
            self.lane_combo.clear()
            for lane_id, title in titles:
                self.lane_combo.addItem(title, lane_id)
            self.lane_combo.blockSignals(False)
            self.remove_lane_button.setEnabled(len(ids) > 1)
        if self.lane_combo.currentData() != self.selected:
            self.lane_combo.blockSignals(True)
            self.lane_combo.setCurrentIndex(self.lane_combo.findData(self.selected))
            self.lane_combo.blockSignals(False)
        if settled or new_run or force or (self._synced is not None and self._synced[0] != self.selected):
            self._sync_controls(lane.cfg, lane.id)
        if settled:
            self._show_playing(frame.state == "running")

        if len(frame.lanes) == 1:
            if self.stack.currentWidget() is not self.view:
                self.stack.setCurrentWidget(self.view)
            drawn = (id(lane.picture), id(lane.history), frame.target, lane.state)
            if drawn != self._drawn or force:
                self._drawn = drawn
                self.view.show_snapshot(lane_snapshot(frame, lane))
        else:
            if self.stack.currentWidget() is not self.lane_grid:
                self.stack.setCurrentWidget(self.lane_grid)
                self._drawn = ()
            self.lane_grid.show_frame(frame, self.selected)

        self._draw_mle(frame, lane, settled)

        stale = frame.applied < self._readout_after  # the old run's frame after a new mode or target was chosen
        self.step_label.setText("—" if stale else str(lane.iteration))
        jsd = math.nan if stale else lane.metrics.get("jsd", math.nan)
        self.jsd_label.setText(f"{jsd:.4f}" if math.isfinite(jsd) else "—")
        bound = math.nan if stale else lane.metrics.get("jsd_d", math.nan)
        self.bound_label.setText(f"{bound:.4f}" + (" (negative: D far from D*)" if bound < 0 else "")
                                 if math.isfinite(bound) else "—")
        loose = math.isfinite(bound) and math.isfinite(jsd) and (bound < 0 or bound < 0.5 * jsd)
        style = "color: #999999;" if loose else ""  # greyed: D is far from D*, the bound says little
        if self.bound_label.styleSheet() != style:
            self.bound_label.setStyleSheet(style)
            self.bound_label.setToolTip(self._bound_tip + ("\n\nNow far below the JSD: D is far from D*, so this "
                                                           "number says little (press Fit D*)." if loose else ""))
        self.phase_panel.show_phase(lane.phase, lane.phase_kind, frame.state)
        self._draw_saturation()
        if len(frame.lanes) == 1:
            show_ghost(self.view, lane.ghost)
            history = getattr(self.view, "history", None)
            if history is not None and hasattr(history, "plots"):
                show_fit_spans(history, lane.fit_spans)
                history.show_divergence(lane.iteration if lane.state == "diverged" else None, lane.message)
        self.target_label.setText(frame.target)
        lanes = f"{len(frame.lanes)} lanes · " if len(frame.lanes) > 1 else ""
        self.rate_label.setText(f"{lanes}iteration {lane.iteration:,} · {frame.steps_per_s:,.0f} it/s · {frame.state}")
        self.device_label.setText(frame.device)

        newest = frame.log[-1] if frame.log else None
        if newest is not None and newest != self._seen_log:
            self._seen_log = newest
            self._show_status(newest.text)
            if newest.traceback:
                self._error = newest.text
            self._refresh_log()
        self._show_banner()

    def _draw_mle(self, frame: Frame, lane: LaneFrame, settled: bool) -> None:
        """The MLE layer in the full view and in every lane view (they share P_data), its controls,
        and the table for the selected lane; the layer is redrawn only when the fit or the views change."""
        views = [self.view, *self.lane_grid.views.values()]
        key = (id(frame.mle), tuple(id(v) for v in views))
        if key != self._mle_drawn:
            self._mle_drawn = key
            for view in views:
                show = getattr(view, "show_mle", None)
                if show is not None:
                    show(frame.mle)
        controls = getattr(self.view, "mle_controls", None)
        if controls is not None:
            if settled:  # never undo a click that is still on its way to the session
                controls.sync(frame.mle_components, frame.mle_state)
            else:
                controls.show_state(frame.mle_state)
        on = controls is not None and frame.mle_components > 0
        if self.mle_table.isHidden() == on:
            self.mle_table.setVisible(on)
        if on:
            self.mle_table.show_frame(frame, lane)

    def _draw_saturation(self) -> None:
        """The selected lane's Saturation layer in the dock, while the dock is shown."""
        dock = getattr(self, "saturation_dock", None)
        if dock is None or not dock.isVisible() or self.frame is None:
            return
        lane = self.frame.lane(self.selected)
        dock.panel.show_saturation(lane.saturation if lane is not None else None)

    def _show_banner(self) -> None:
        frame = self.frame
        diverged = [(i, l) for i, l in enumerate(frame.lanes) if l.state == "diverged"] if frame else []
        if diverged:
            if len(frame.lanes) == 1:
                text = (f"⚠ {diverged[0][1].message}. Training is paused and the last good picture stays; "
                        "Reset starts again with the same settings, Reset with defaults with the mode's defaults.")
            else:
                all_titles = lane_titles(frame)
                names = "; ".join(f"{all_titles[i]}: {l.message}" for i, l in diverged[:3])
                text = (f"⚠ {len(diverged)} of {len(frame.lanes)} lanes diverged ({names}). "
                        "Reset starts every lane again.")
        elif self._error:
            text = f"⚠ {self._error}. (View › Message log has the details.)"
        else:
            self.banner.hide()
            return
        if self.banner_text.text() != text:
            self.banner_text.setText(text)
        self.banner.show()

    def closeEvent(self, event) -> None:
        self.timer.stop()
        for view in self.views.values():  # a load or download on its own thread: cancelled and joined
            shutdown = getattr(view, "shutdown", None)
            if shutdown is not None:
                shutdown()
        self.worker.stop()
        self.worker.wait()
        if self._gc_held:  # every thread of the window is joined: collection may leave the GUI thread
            self._gc_held = False
            gui_gc.release()
        super().closeEvent(event)


class _TrainingKeys(QObject):
    """Event filter for text fields: Space, S, R and F (no modifier) press Play, Step, Reset, Fit D*
    instead of being typed (no field of the window needs them); digits, '.', 'e', '-' type as usual."""

    def __init__(self, keys: dict, parent: QObject):
        super().__init__(parent)
        self.keys = keys

    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            slot = self.keys.get(event.key()) if mods == Qt.KeyboardModifier.NoModifier else None
            if slot is not None:
                if event.type() == QEvent.Type.KeyPress and not event.isAutoRepeat():
                    if isinstance(obj, QAbstractSpinBox):
                        obj.interpretText()  # a value typed before the key counts (the seed, the noise dim)
                        obj.editingFinished.emit()
                    elif isinstance(obj, QLineEdit):
                        obj.editingFinished.emit()
                    slot()
                event.accept()
                return True
        return False


def _with_value(slider: QSlider, label: QLabel) -> QWidget:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(slider, 1)
    row.addWidget(label)
    return box


def _short(dataset: str) -> str:
    return dataset if len(dataset) < 30 else "…" + dataset[-28:]
