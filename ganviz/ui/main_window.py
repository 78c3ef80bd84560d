"""The ganviz window: the knobs of Algorithm 1 on the left, the current mode's view in the centre."""

from __future__ import annotations

import importlib
import math
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QMainWindow, QPushButton, QScrollArea,
    QSlider, QSpinBox, QStackedWidget, QVBoxLayout, QWidget,
)

from ganviz.core.config import K_MAX, K_MIN, LOSSES, LR_MAX, LR_MIN, MODES, ConfigError, TrainConfig
from ganviz.core.tasks import task_class
from ganviz.core.trainer import LIVE_SETTINGS, Trainer
from ganviz.ui.base import ModeView
from ganviz.ui.worker import TrainWorker

VIEWS = {
    "1d": "ganviz.ui.view1d:View1D",
    "2d": "ganviz.ui.view2d:View2D",
    "mnist": "ganviz.ui.view_mnist:MnistView",
}
MODE_LABELS = {"1d": "1-D toy", "2d": "2-D toy", "mnist": "MNIST images"}
LOSS_LABELS = {"nonsaturating": "non-saturating  −log D(G(z))", "minimax": "minimax  log(1 − D(G(z)))"}
LR_TICKS = 500  # the learning-rate sliders are log-scale: tick i ↦ LR_MIN · (LR_MAX/LR_MIN)^(i/LR_TICKS)
SPEEDS = [("max", None), ("1000 it/s", 1000.0), ("300 it/s", 300.0), ("100 it/s", 100.0), ("30 it/s", 30.0),
          ("10 it/s", 10.0), ("3 it/s", 3.0), ("1 it/s", 1.0)]


def view_class(mode: str) -> type[ModeView]:
    module, name = VIEWS[mode].split(":")
    return getattr(importlib.import_module(module), name)


def lr_to_tick(lr: float) -> int:
    return round(LR_TICKS * math.log(lr / LR_MIN) / math.log(LR_MAX / LR_MIN))


def tick_to_lr(tick: int) -> float:
    return float(f"{LR_MIN * (LR_MAX / LR_MIN) ** (tick / LR_TICKS):.3g}")


class MainWindow(QMainWindow):
    """Builds a ready window in `mode` without starting training (press play, or Space)."""

    def __init__(self, mode: str = "1d", dataset: str | None = None, device: str = "auto"):
        super().__init__()
        self.setWindowTitle("ganviz — watch a GAN learn")
        self.resize(1280, 820)
        self._device = device
        self.views: dict[str, ModeView] = {}
        self._build_controls()
        self.stack = QStackedWidget()
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

        self.cfg = TrainConfig.for_mode(mode, dataset=dataset, device=device)
        trainer = Trainer(self.cfg)
        self._run = id(trainer)  # snapshots of an earlier run (in flight at a restart) are not drawn
        self.worker = TrainWorker(trainer)
        self._show_mode(mode)
        self._sync_controls_to_cfg()
        self.worker.start()

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
            self.mode_combo.addItem(MODE_LABELS[mode], mode)
        self.mode_combo.currentIndexChanged.connect(self._mode_chosen)
        form.addRow("Mode", self.mode_combo)
        self.dataset_combo = QComboBox(objectName="datasetCombo")
        self.dataset_combo.currentIndexChanged.connect(self._dataset_chosen)
        form.addRow("Target P_data", self.dataset_combo)
        self.seed_spin = QSpinBox(objectName="seedSpin")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("the same seed gives the same run after reset")
        self.seed_spin.editingFinished.connect(self._seed_changed)
        form.addRow("Seed", self.seed_spin)
        layout.addWidget(run_box)

        algo_box = QGroupBox("Algorithm 1")
        form = QFormLayout(algo_box)
        self.k_slider = QSlider(Qt.Orientation.Horizontal, objectName="kSlider")
        self.k_slider.setRange(K_MIN, K_MAX)
        self.k_label = QLabel()
        self.k_slider.valueChanged.connect(self._k_changed)
        self.k_slider.setToolTip("k: discriminator updates per generator update")
        form.addRow("k (D steps / G step)", _with_value(self.k_slider, self.k_label))
        self.lr_d_slider, self.lr_d_label = self._lr_slider("lrDSlider", "lr_d")
        form.addRow("learning rate of D", _with_value(self.lr_d_slider, self.lr_d_label))
        self.lr_g_slider, self.lr_g_label = self._lr_slider("lrGSlider", "lr_g")
        form.addRow("learning rate of G", _with_value(self.lr_g_slider, self.lr_g_label))
        self.loss_combo = QComboBox(objectName="lossCombo")
        for loss in LOSSES[::-1]:
            self.loss_combo.addItem(LOSS_LABELS[loss], loss)
        self.loss_combo.currentIndexChanged.connect(
            lambda _: self._live_change(loss=self.loss_combo.currentData()))
        form.addRow("G loss", self.loss_combo)
        layout.addWidget(algo_box)

        play_box = QGroupBox("Training")
        grid = QVBoxLayout(play_box)
        row = QHBoxLayout()
        self.play_button = QPushButton("▶ Play", objectName="playButton")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play_toggled)
        self.step_button = QPushButton("Step", objectName="stepButton")
        self.step_button.setToolTip("one iteration of Algorithm 1: k D updates, then one G update (S)")
        self.step_button.clicked.connect(self._step)
        self.reset_button = QPushButton("Reset", objectName="resetButton")
        self.reset_button.setToolTip("new weights from the same seed: the same run again (R)")
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
            lambda _: self.worker.post("max_rate", self.speed_combo.currentData()))
        self.speed_combo.setToolTip("limit iterations per second to watch training in slow motion")
        speed_row.addWidget(self.speed_combo, 1)
        grid.addLayout(speed_row)
        layout.addWidget(play_box)

        self.mode_box = QGroupBox("Mode settings")
        self.mode_box_layout = QVBoxLayout(self.mode_box)
        layout.addWidget(self.mode_box)

        readout = QGroupBox("Now")
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

    # --- modes and runs -------------------------------------------------------------------------
    def _show_mode(self, mode: str) -> None:
        if mode not in self.views:
            view = view_class(mode)()
            view.restart_requested.connect(self._restart_with)
            view.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
            self.views[mode] = view
            self.stack.addWidget(view)
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

    @property
    def view(self) -> ModeView:
        return self.views[self.cfg.mode]

    def _sync_controls_to_cfg(self) -> None:
        """Show self.cfg in the controls without sending changes back."""
        cfg = self.cfg
        widgets = (self.mode_combo, self.dataset_combo, self.k_slider, self.lr_d_slider, self.lr_g_slider,
                   self.loss_combo, self.seed_spin)
        for w in widgets:
            w.blockSignals(True)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(cfg.mode))
        self.dataset_combo.clear()
        for name in task_class(cfg.mode).datasets:
            self.dataset_combo.addItem(name, name)
        if self.dataset_combo.findData(cfg.dataset) < 0:
            self.dataset_combo.addItem(_short(cfg.dataset), cfg.dataset)
        self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(cfg.dataset))
        self.k_slider.setValue(cfg.k)
        self.k_label.setText(str(cfg.k))
        self.lr_d_slider.setValue(lr_to_tick(cfg.lr_d))
        self.lr_d_label.setText(f"{cfg.lr_d:.3g}")
        self.lr_g_slider.setValue(lr_to_tick(cfg.lr_g))
        self.lr_g_label.setText(f"{cfg.lr_g:.3g}")
        self.loss_combo.setCurrentIndex(self.loss_combo.findData(cfg.loss))
        self.seed_spin.setValue(cfg.seed)
        for w in widgets:
            w.blockSignals(False)

    def _new_run(self, cfg: TrainConfig, note: str) -> bool:
        """Build a trainer for `cfg` and hand it to the worker; on error keep the current run."""
        try:
            trainer = Trainer(cfg)
        except (ConfigError, ValueError, OSError) as exc:
            self.statusBar().showMessage(f"Could not start the new run: {exc}", 15000)
            self._sync_controls_to_cfg()
            return False
        self.cfg = cfg
        self._run = id(trainer)
        self.play_button.setChecked(False)
        self.view.clear()
        sync = getattr(self.view, "sync_to_config", None)
        if sync is not None:
            sync(cfg)
        self.worker.post("replace", trainer)
        self.banner.hide()
        self._sync_controls_to_cfg()
        self.statusBar().showMessage(note, 8000)
        return True

    def _mode_chosen(self, _index: int) -> None:
        mode = self.mode_combo.currentData()
        if mode == self.cfg.mode:
            return
        old = self.cfg.mode
        self._show_mode(mode)
        try:
            cfg = TrainConfig.for_mode(mode, device=self._device, seed=self.cfg.seed,
                                       **self.views[mode].config_changes())
        except ConfigError as exc:
            cfg = None
            self.statusBar().showMessage(str(exc), 15000)
        if cfg is None or not self._new_run(cfg, f"New run: {MODE_LABELS[mode]} mode, {cfg.dataset}"):
            self._show_mode(old)
            self._sync_controls_to_cfg()

    def _dataset_chosen(self, _index: int) -> None:
        dataset = self.dataset_combo.currentData()
        if dataset and dataset != self.cfg.dataset:
            self._restart_with({"dataset": dataset})

    def _restart_with(self, changes: dict[str, Any]) -> None:
        try:
            cfg = self.cfg.replace(**changes)
        except ConfigError as exc:
            self.statusBar().showMessage(str(exc), 15000)
            return
        if "dataset" in changes:
            what = f"target {_short(cfg.dataset)}"
        else:
            what = ", ".join(f"{key.replace('_', ' ')} {val}" for key, val in changes.items())
        self._new_run(cfg, f"New run (reset): {what}")

    def _seed_changed(self) -> None:
        if self.seed_spin.value() != self.cfg.seed:
            self._restart_with({"seed": self.seed_spin.value()})

    # --- live settings and commands -------------------------------------------------------------
    def _live_change(self, **changes: Any) -> None:
        assert set(changes) <= set(LIVE_SETTINGS)
        try:
            self.cfg = self.cfg.replace(**changes)
        except ConfigError as exc:
            self.statusBar().showMessage(str(exc), 10000)
            return
        self.worker.post("update", changes)

    def _k_changed(self, k: int) -> None:
        self.k_label.setText(str(k))
        self._live_change(k=k)

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText("⏸ Pause" if playing else "▶ Play")
        self.worker.post("play" if playing else "pause")

    def _step(self) -> None:
        self.play_button.setChecked(False)
        self.worker.post("step", 1)

    def _reset(self) -> None:
        self.play_button.setChecked(False)
        self.banner.hide()
        self.view.clear()
        self.worker.post("reset")

    def _fit_d(self) -> None:
        self._show_stopped()
        self.worker.post("fit_d")

    def _show_stopped(self) -> None:
        """Show the play button as stopped without posting 'pause' (the worker stopped by itself)."""
        self.play_button.blockSignals(True)
        self.play_button.setChecked(False)
        self.play_button.setText("▶ Play")
        self.play_button.blockSignals(False)

    # --- drawing --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Pull the newest snapshot (if any) and draw it."""
        snap = self.worker.take_snapshot()
        if snap is None or snap.run != self._run:
            return
        self.view.show_snapshot(snap)
        self.step_label.setText(str(snap.iteration))
        jsd = snap.metrics.get("jsd", math.nan)
        self.jsd_label.setText(f"{jsd:.4f}" if math.isfinite(jsd) else "—")
        bound = snap.metrics.get("jsd_d", math.nan)
        self.bound_label.setText(f"{bound:.4f}" if math.isfinite(bound) else "—")
        self.target_label.setText(snap.target)
        self.rate_label.setText(f"iteration {snap.iteration:,} · {snap.steps_per_s:,.0f} it/s · {snap.state}")
        self.device_label.setText(snap.device)
        if snap.message and snap.message != getattr(self, "_last_message", ""):
            self.statusBar().showMessage(snap.message, 15000)
        self._last_message = snap.message
        if snap.state == "diverged":
            self.banner_text.setText(f"⚠ {snap.message}. Training is paused; press Reset to start again.")
            self.banner.show()
            self._show_stopped()

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
