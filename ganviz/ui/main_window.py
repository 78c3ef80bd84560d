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

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QFrame, QGridLayout, QGroupBox, QHBoxLayout,
    QLabel, QMainWindow, QPlainTextEdit, QPushButton, QScrollArea, QSlider, QSpinBox, QStackedWidget, QVBoxLayout,
    QWidget,
)

from ganviz.core import modes
from ganviz.core.checkpoint import CheckpointError, find_checkpoint
from ganviz.core.command_line import session_command
from ganviz.core.config import K_MAX, K_MIN, LOSSES, LR_MAX, LR_MIN, MODES, ConfigError, TrainConfig
from ganviz.core.frame import Frame, LaneFrame, LogEntry
from ganviz.core.session import LANE_SETTINGS, LIVE_SETTINGS, Session
from ganviz.core.snapshot import Snapshot
from ganviz.core.tasks import task_class
from ganviz.ui.base import ModeView
from ganviz.ui.lane_grid import LaneGrid, lane_titles
from ganviz.ui.lessons_panel import install_lessons_panel
from ganviz.ui.record_button import install_record_button
from ganviz.ui.worker import TrainWorker

LOSS_LABELS = {"nonsaturating": "non-saturating  −log D(G(z))", "minimax": "minimax  log(1 − D(G(z)))",
               "lsgan": "LSGAN  ½(D(G(z)))²  (codes −1/+1/0)", "wgan": "WGAN  −f(G(z)), critic clipped",
               "wgan-gp": "WGAN-GP  −f(G(z)), gradient penalty", "hinge": "hinge  −f(G(z))"}
LOSS_TIPS = ("the generator's objective. minimax and non-saturating train the paper's D (a probability) and "
             "switch live; LSGAN, WGAN, WGAN-GP and hinge train a different D (least squares, a critic), so "
             "picking one starts a new run of this lane with the settings it needs (e.g. WGAN-GP: k = 5, "
             "Adam β = (0, 0.9), learning rates 1e-4)")
LR_TICKS = 500  # the learning-rate sliders are log-scale: tick i ↦ LR_MIN · (LR_MAX/LR_MIN)^(i/LR_TICKS)
SPEEDS = [("max", None), ("1000 it/s", 1000.0), ("300 it/s", 300.0), ("100 it/s", 100.0), ("30 it/s", 30.0),
          ("10 it/s", 10.0), ("3 it/s", 3.0), ("1 it/s", 1.0)]


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


def command_configs(frame: Frame) -> list[TrainConfig]:
    """Each lane's settings with --steps = the iterations it has run (what is on screen)."""
    return [lane.cfg.replace(steps=lane.iteration) if lane.iteration > 0 else lane.cfg for lane in frame.lanes]


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

        self._build_controls()
        self.stack = QStackedWidget()
        self.lane_grid = LaneGrid()
        self.lane_grid.lane_clicked.connect(self.select_lane)
        self.stack.addWidget(self.lane_grid)
        self.banner = self._build_banner()

        central = QWidget()
        outer = QHBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFixedWidth(370)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        right = QVBoxLayout()
        right.addWidget(self.banner)
        right.addWidget(self.stack, 1)
        outer.addLayout(right, 1)
        self.setCentralWidget(central)
        self._build_status_bar()
        self._build_menus()

        session = Session(TrainConfig.for_mode(mode, dataset=dataset, device=device))
        self.worker = TrainWorker(session)
        self._show_mode(mode)
        self._sync_controls(session.cfg, session.lanes[0].id)
        self.worker.start()
        install_lessons_panel(self)  # the Lessons dock and menu (ganviz.ui.lessons_panel)
        install_record_button(self)  # Record in the status bar (ganviz.ui.record_button)

        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / 60))  # poll faster than the worker publishes
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        for key, slot in ((Qt.Key.Key_Space, self.play_button.click), (Qt.Key.Key_S, self.step_button.click),
                          (Qt.Key.Key_R, self.reset_button.click), (Qt.Key.Key_F, self.fit_button.click)):
            QShortcut(QKeySequence(key), self, activated=slot)

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
        form.addRow("Mode", self.mode_combo)
        self.dataset_combo = QComboBox(objectName="datasetCombo")
        self.dataset_combo.currentIndexChanged.connect(self._dataset_chosen)
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
        self.k_slider.setToolTip("k: discriminator updates per generator update")
        form.addRow("k (D steps / G step)", _with_value(self.k_slider, self.k_label))
        self.k_g_slider = QSlider(Qt.Orientation.Horizontal, objectName="kGSlider")
        self.k_g_slider.setRange(K_MIN, K_MAX)
        self.k_g_label = QLabel()
        self.k_g_slider.valueChanged.connect(self._k_g_changed)
        self.k_g_slider.setToolTip("k_G: generator updates per iteration (1 in the paper; GAN Lab's counterpart of k)")
        form.addRow("k_G (G steps)", _with_value(self.k_g_slider, self.k_g_label))
        self.lr_d_slider, self.lr_d_label = self._lr_slider("lrDSlider", "lr_d")
        form.addRow("learning rate of D", _with_value(self.lr_d_slider, self.lr_d_label))
        self.lr_g_slider, self.lr_g_label = self._lr_slider("lrGSlider", "lr_g")
        form.addRow("learning rate of G", _with_value(self.lr_g_slider, self.lr_g_label))
        self.loss_combo = QComboBox(objectName="lossCombo")
        for loss in ("nonsaturating", "minimax", *(name for name in LOSSES if name not in ("nonsaturating", "minimax"))):
            self.loss_combo.addItem(LOSS_LABELS[loss], loss)
        self.loss_combo.setToolTip(LOSS_TIPS)
        self.loss_combo.currentIndexChanged.connect(
            lambda _: self._live_change(loss=self.loss_combo.currentData()))
        form.addRow("G loss", self.loss_combo)
        layout.addWidget(algo_box)

        play_box = QGroupBox("Training (every lane)")
        grid = QVBoxLayout(play_box)
        row = QHBoxLayout()
        self.play_button = QPushButton("▶ Play", objectName="playButton")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play_toggled)
        self.step_button = QPushButton("Step", objectName="stepButton")
        self.step_button.setToolTip("one iteration of Algorithm 1: k D updates, then one G update (S)")
        self.step_button.clicked.connect(self._step)
        self.reset_button = QPushButton("Reset", objectName="resetButton")
        self.reset_button.setToolTip("new weights from each lane's seed: the same runs again (R)")
        self.reset_button.clicked.connect(self._reset)
        for button in (self.play_button, self.step_button, self.reset_button):
            row.addWidget(button)
        grid.addLayout(row)
        self.fit_button = QPushButton("Fit D*", objectName="fitDButton")
        self.fit_button.setToolTip("freeze G and train only D until V(G,D) stops rising: D(x) → D*(x), "
                                   "and the bound (V+log 4)/2 meets the JSD (F)")
        self.fit_button.clicked.connect(self._fit_d)
        grid.addWidget(self.fit_button)
        speed_row = QHBoxLayout()
        speed_row.addWidget(QLabel("Speed"))
        self.speed_combo = QComboBox(objectName="speedCombo")
        for label, rate in SPEEDS:
            self.speed_combo.addItem(label, rate)
        self.speed_combo.currentIndexChanged.connect(
            lambda _: self._post(Session.set_speed, self.speed_combo.currentData()))
        self.speed_combo.setToolTip("limit iterations per second to watch training in slow motion")
        speed_row.addWidget(self.speed_combo, 1)
        grid.addLayout(speed_row)
        layout.addWidget(play_box)

        self.mode_box = QGroupBox("Mode settings")
        self.mode_box_layout = QVBoxLayout(self.mode_box)
        layout.addWidget(self.mode_box)

        readout = QGroupBox("Now (selected lane)")
        form = QFormLayout(readout)
        self.step_label = QLabel("0", objectName="stepLabel")
        form.addRow("iteration", self.step_label)
        self.jsd_label = QLabel("—", objectName="jsdLabel")
        self.jsd_label.setToolTip("JSD(P_data‖P_G) in nats (log 2 ≈ 0.693 is the maximum)")
        form.addRow("JSD (nats)", self.jsd_label)
        self.bound_label = QLabel("—", objectName="boundLabel")
        form.addRow("(V(G,D)+log 4)/2", self.bound_label)
        self.target_label = QLabel("", objectName="targetLabel")
        self.target_label.setWordWrap(True)
        form.addRow("P_data", self.target_label)
        layout.addWidget(readout)
        layout.addStretch(1)

    def _lr_slider(self, name: str, field: str) -> tuple[QSlider, QLabel]:
        slider = QSlider(Qt.Orientation.Horizontal, objectName=name)
        slider.setRange(0, LR_TICKS)
        label = QLabel()
        label.setMinimumWidth(52)

        def changed(tick: int) -> None:
            lr = tick_to_lr(tick)
            label.setText(f"{lr:.3g}")
            self._live_change(**{field: lr})

        slider.valueChanged.connect(changed)
        slider.setToolTip("log scale, 1e-5 … 1")
        return slider, label

    def _build_banner(self) -> QFrame:
        banner = QFrame(objectName="divergedBanner")
        banner.setStyleSheet("QFrame#divergedBanner { background: #fde2e1; border: 1px solid #d62728; }")
        row = QHBoxLayout(banner)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        row.addWidget(self.banner_text, 1)
        button = QPushButton("Reset", objectName="bannerResetButton")
        button.clicked.connect(self._reset)
        row.addWidget(button)
        banner.hide()
        return banner

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.rate_label = QLabel("", objectName="rateLabel")
        self.device_label = QLabel("", objectName="deviceLabel")
        bar.addPermanentWidget(self.rate_label)
        bar.addPermanentWidget(self.device_label)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, keys, slot in (("Save run…", QKeySequence.StandardKey.Save, self._choose_save_folder),
                                 ("Open run…", QKeySequence.StandardKey.Open, self._choose_open_folder),
                                 ("Copy command", None, self.copy_command)):
            action = QAction(text, self)
            if keys is not None:
                action.setShortcut(keys)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        action = QAction("Message log", self)
        action.triggered.connect(self.show_log)
        view_menu.addAction(action)

    # --- modes ----------------------------------------------------------------------------------
    def _show_mode(self, mode: str) -> None:
        """Make `mode`'s full view and its settings the visible ones (the frame's mode, not the combo's)."""
        if mode not in self.views:
            view = view_class(mode)()
            view.restart_requested.connect(self._restart_with)
            view.message.connect(lambda text: self.say(text))
            self.views[mode] = view
            self.stack.addWidget(view)
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
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        for name in task_class(mode).datasets:
            self.dataset_combo.addItem(name, name)
        self.dataset_combo.blockSignals(False)
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
                   self.lr_g_slider, self.loss_combo, self.seed_spin)
        for w in widgets:
            w.blockSignals(True)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(cfg.mode))
        if self.dataset_combo.findData(cfg.dataset) < 0:
            self.dataset_combo.addItem(_short(cfg.dataset), cfg.dataset)
        self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(cfg.dataset))
        self.k_slider.setValue(cfg.k)
        self.k_label.setText(str(cfg.k))
        self.k_g_slider.setValue(cfg.k_g)
        self.k_g_label.setText(str(cfg.k_g))
        self.lr_d_slider.setValue(lr_to_tick(cfg.lr_d))
        self.lr_d_label.setText(f"{cfg.lr_d:.3g}")
        self.lr_g_slider.setValue(lr_to_tick(cfg.lr_g))
        self.lr_g_label.setText(f"{cfg.lr_g:.3g}")
        self.loss_combo.setCurrentIndex(self.loss_combo.findData(cfg.loss))
        self.seed_spin.setValue(cfg.seed)
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
            self._post(Session.configure, mode=mode)

    def _dataset_chosen(self, _index: int) -> None:
        dataset = self.dataset_combo.currentData()
        if dataset and dataset != self.cfg.dataset:
            self._error = ""
            self._post(Session.configure, dataset=dataset)

    def _restart_with(self, changes: dict[str, Any]) -> None:
        """A view's setting that needs new weights: per-lane ones (noise) start the selected lane
        again; shared ones (the target, its spread, a data folder) start every lane again."""
        self._error = ""
        if set(changes) <= set(LIVE_SETTINGS) | set(LANE_SETTINGS):
            self._post(Session.set, self.selected, **changes)
        else:
            self._post(Session.configure, **changes)

    def _seed_changed(self) -> None:
        if self.seed_spin.value() != self.cfg.seed:
            self._post(Session.set, self.selected, seed=self.seed_spin.value())

    def _live_change(self, **changes: Any) -> None:
        assert set(changes) <= set(LIVE_SETTINGS)
        self._post(Session.set, self.selected, **changes)

    def _k_changed(self, k: int) -> None:
        self.k_label.setText(str(k))
        self._live_change(k=k)

    def _k_g_changed(self, k_g: int) -> None:
        self.k_g_label.setText(str(k_g))
        self._live_change(k_g=k_g)

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText("⏸ Pause" if playing else "▶ Play")
        if playing:
            self._error = ""
        self._post(Session.play if playing else Session.pause)

    def _step(self) -> None:
        self._show_stopped()
        self._post(Session.step, 1)

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
            self.play_button.setText("⏸ Pause" if playing else "▶ Play")
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
        return True

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
        self.statusBar().showMessage(text, 15000)
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

        self.step_label.setText(str(lane.iteration))
        jsd = lane.metrics.get("jsd", math.nan)
        self.jsd_label.setText(f"{jsd:.4f}" if math.isfinite(jsd) else "—")
        bound = lane.metrics.get("jsd_d", math.nan)
        self.bound_label.setText(f"{bound:.4f}" if math.isfinite(bound) else "—")
        self.target_label.setText(frame.target)
        lanes = f"{len(frame.lanes)} lanes · " if len(frame.lanes) > 1 else ""
        self.rate_label.setText(f"{lanes}iteration {lane.iteration:,} · {frame.steps_per_s:,.0f} it/s · {frame.state}")
        self.device_label.setText(frame.device)

        newest = frame.log[-1] if frame.log else None
        if newest is not None and newest != self._seen_log:
            self._seen_log = newest
            self.statusBar().showMessage(newest.text, 15000)
            if newest.traceback:
                self._error = newest.text
            self._refresh_log()
        self._show_banner()

    def _show_banner(self) -> None:
        frame = self.frame
        diverged = [(i, l) for i, l in enumerate(frame.lanes) if l.state == "diverged"] if frame else []
        if diverged:
            if len(frame.lanes) == 1:
                text = f"⚠ {diverged[0][1].message}. Training is paused; press Reset to start again."
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
        self.worker.stop()
        self.worker.wait()
        super().closeEvent(event)


def _with_value(slider: QSlider, label: QLabel) -> QWidget:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(slider, 1)
    row.addWidget(label)
    return box


def _short(dataset: str) -> str:
    return dataset if len(dataset) < 30 else "…" + dataset[-28:]
