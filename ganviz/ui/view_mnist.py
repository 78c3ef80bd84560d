"""The image view: G's samples on fixed and fresh noise, D's verdict on real and generated digits, scores over training."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from ganviz.core.mnist.data import IMAGE_SUFFIXES, DatasetError, LoadCancelled, load_images, mnist_cache_dir
from ganviz.core.mnist.download import MNIST_FILES, MNIST_MIRRORS, DownloadCancelled, abort, download_mnist
from ganviz.core.mnist.task import GRID, PAD, PAD_LEVEL, STRIP, PictureMnist, tile
from ganviz.core.config import TrainConfig
from ganviz.core.modes import MNIST_ARCHS
from ganviz.core.snapshot import Snapshot
from ganviz.ui.base import LOAD_JOIN_TIMEOUT, FileLoad, LaneView, ModeView
from ganviz.ui.history_plot import HistoryPlot, Series

SIDE = 28
ARCHS = tuple(MNIST_ARCHS)
ARCH_LABELS = {
    "conv": "DCGAN, R1 penalty on D",
    "mlp": "MLP (original paper)",
    "conv-legacy": "DCGAN, unregularised",
}
ARCH_TIPS = {
    "conv": "transposed convolutions in G, strided convolutions in D with an R1 penalty (γ = 1) on real images, "
            "which D sees shifted by up to 3 px; two G updates per iteration; the grid and the scores use the "
            "moving average of G's weights",
    "mlp": "fully connected G and D, as in Goodfellow et al. (2014); the grid and the scores use the moving "
           "average of G's weights",
    "conv-legacy": "the DCGAN without a regularised D and without averaging G: its digits stop "
                   "improving early and stay malformed",
}
COLORS = {
    "d_loss": "#9467bd",
    "g_loss": "#2ca02c",
    "d_real": "#17becf",
    "d_fake": "#e377c2",
    "score": "#d62728",
    "fd": "#1f77b4",
}
HISTORY_SERIES_MNIST = [
    Series("d_loss", "D loss", COLORS["d_loss"], "loss", smooth=True,
           tip="the discriminator's loss on the last batch (2 log 2 ≈ 1.386 when D cannot tell real from generated)"),
    Series("g_loss", "G loss", COLORS["g_loss"], "loss", smooth=True,
           tip="the generator's loss on the last batch (the G loss chosen in the panel)"),
    Series("d_real", "D(x) real", COLORS["d_real"], "d",
           tip="mean D(x) on real digits: the probability D gives them of being real (½ at equilibrium)"),
    Series("d_fake", "D(G(z))", COLORS["d_fake"], "d",
           tip="mean D(G(z)) on generated digits (½ at equilibrium; near 0 when D wins and minimax saturates)"),
    Series("score", "classifier score", COLORS["score"], "score",
           tip="Inception-style score from a small classifier trained on the data's own labels: the number "
               "of classes (10 for digits) when every class appears, sharply; the real data's own score is "
               "under the samples"),
    Series("fd", "Fréchet distance", COLORS["fd"], "fd",
           tip="Fréchet distance between the classifier's features of real and generated images (0 best)"),
]
# Short labels keep the curve panel narrow: the samples get the larger share of the width.
HISTORY_GROUPS_MNIST = {"loss": "loss", "d": "mean D (prob.)", "score": "score (↑ better)", "fd": "FD (0 best)"}
BLANK_GRID = np.full((GRID * (SIDE + PAD) + PAD,) * 2, PAD_LEVEL, dtype=np.uint8)
SCORE_ROW = 14  # image pixels of room under a strip for the scores
BLANK_STRIP = np.full((SIDE + 2 * PAD, STRIP * (SIDE + PAD) + PAD), PAD_LEVEL, dtype=np.uint8)


def image_box(title: str) -> tuple[pg.GraphicsLayoutWidget, pg.ViewBox, pg.ImageItem]:
    """A fixed-aspect, non-interactive picture with a title: the grids and strips are images, not plots."""
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground("w")
    widget.ci.setContentsMargins(2, 2, 2, 2)
    widget.title = widget.addLabel(title, row=0, col=0, color="#333333", size="10pt")
    box = widget.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMouse=False)
    box.setMenuEnabled(False)
    item = pg.ImageItem(axisOrder="row-major")
    box.addItem(item)
    return widget, box, item


class _DownloadSignals(QObject):
    """Carries the download thread's news to the UI thread (queued across threads by Qt)."""

    progress = Signal(object, object)  # bytes done, total (0 while unknown)
    finished = Signal(str)             # the folder now holding the files
    failed = Signal(str)


class MnistView(ModeView):
    mode = "mnist"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("viewMnist")
        self._data_dir: str | None = None
        self._arch = ARCHS[0]
        self._controls: QWidget | None = None
        self._download: threading.Thread | None = None
        self._cancel = threading.Event()
        self.download_base_url: str | tuple[str, ...] = MNIST_MIRRORS  # tests point these at a local server
        self.download_files = MNIST_FILES
        self.download_dir: Path | None = None  # None: the MNIST cache folder
        self._dl = _DownloadSignals(self)
        self._dl.progress.connect(self._on_download_progress)
        self._dl.finished.connect(self._on_download_finished)
        self._dl.failed.connect(self._on_download_failed)
        # Loading a folder or an array runs on its own thread (decoding thousands of images takes seconds).
        self._images_load = FileLoad("ganviz-image-load", expected=(DatasetError,), cancelled=(LoadCancelled,),
                                     parent=self)
        self._images_load.progress.connect(self._on_load_progress)
        self._images_load.finished.connect(self._on_load_finished)
        self._images_load.failed.connect(self._on_load_failed)

        # Samples: G on the fixed noise (the same z every frame, so the change is G's) and on fresh noise.
        self.grid_widget, self.grid_box, self.grid_item = image_box("G(z) on fixed noise z")
        self.fresh_widget, self.fresh_box, self.fresh_item = image_box("G(z) on fresh noise")
        self.fresh_widget.setVisible(False)
        self._titles = ("G(z) on fixed noise z", "G(z) on fresh noise")
        self._title_grids()
        for item, blank in ((self.grid_item, BLANK_GRID), (self.fresh_item, BLANK_GRID)):
            item.setImage(blank, levels=(0, 255))
        self.fresh_check = QCheckBox("second grid on fresh noise")
        self.fresh_check.setObjectName("freshGridCheck")
        self.fresh_check.setToolTip("new z every frame: shows the spread of P_G rather than how G moves")
        self.fresh_check.toggled.connect(self.fresh_widget.setVisible)

        # D's verdict: D(x) on real digits above, D(G(z)) on generated ones below.
        self.strip_widget = pg.GraphicsLayoutWidget()
        self.strip_widget.setBackground("w")
        self.strip_widget.ci.setContentsMargins(2, 2, 2, 2)
        self.strip_items: dict[str, pg.ImageItem] = {}
        self.score_texts: dict[str, list[pg.TextItem]] = {}
        for row, (kind, title) in enumerate((("real", "real x, with D(x)"), ("fake", "generated G(z), with D(G(z))"))):
            self.strip_widget.addLabel(title, row=2 * row, col=0, color="#333333", size="9pt")
            box = self.strip_widget.addViewBox(row=2 * row + 1, col=0, lockAspect=True, invertY=True,
                                               enableMouse=False)
            box.setMenuEnabled(False)
            item = pg.ImageItem(axisOrder="row-major")
            item.setImage(BLANK_STRIP, levels=(0, 255))
            box.addItem(item)
            texts = []
            for i in range(STRIP):  # D's score under each image, not over the digit
                text = pg.TextItem("", color="#222222", anchor=(0.5, 0))
                text.setPos(PAD + i * (SIDE + PAD) + SIDE / 2, BLANK_STRIP.shape[0])
                box.addItem(text)
                texts.append(text)
            box.setRange(xRange=(0, BLANK_STRIP.shape[1]), yRange=(0, BLANK_STRIP.shape[0] + SCORE_ROW), padding=0)
            self.strip_items[kind] = item
            self.score_texts[kind] = texts
        self.strip_widget.setMinimumHeight(170)

        self.status_label = QLabel("")
        self.status_label.setObjectName("classifierStatusLabel")
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("color: #555555;")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        grids = QHBoxLayout()
        grids.addWidget(self.grid_widget, 1)
        grids.addWidget(self.fresh_widget, 1)
        left_layout.addLayout(grids, 3)
        left_layout.addWidget(self.fresh_check)
        left_layout.addWidget(self.strip_widget, 1)
        left_layout.addWidget(self.status_label)

        self.history = HistoryPlot(HISTORY_SERIES_MNIST, HISTORY_GROUPS_MNIST, legend_above=True, toggle_columns=2)
        # The samples are the point of this mode: they get the larger share of the width.
        self._place_beside(left, self.history)

    # --- drawing --------------------------------------------------------------------------------
    def show_snapshot(self, snap: Snapshot) -> None:
        pic = snap.views
        if isinstance(pic, PictureMnist):
            self.grid_item.setImage(pic.grid, autoLevels=False, levels=(0, 255))
            if self.fresh_check.isChecked():
                self.fresh_item.setImage(pic.grid_fresh, autoLevels=False, levels=(0, 255))
            for kind, images in (("real", pic.real), ("fake", pic.fake)):
                self.strip_items[kind].setImage(tile(images.pixels, columns=STRIP), autoLevels=False, levels=(0, 255))
                for text, score in zip(self.score_texts[kind], images.scores):
                    text.setText(f"{score:.2f}")
        self.history.update_history(snap.history)
        self.status_label.setText(self._status_text(snap))
        if snap.target and self._controls is not None:
            self.dataset_label.setText(snap.target)

    def _status_text(self, snap: Snapshot) -> str:
        status = snap.views.status if isinstance(snap.views, PictureMnist) else ""
        score, fd = snap.metrics.get("score"), snap.metrics.get("fd")
        if score is not None and np.isfinite(score):
            return f"classifier score {score:.2f}, FD {fd:.1f} (0 best) — {status}"
        if fd is not None and np.isfinite(fd):  # foreign or unlabelled images: FD only, the score hidden
            return f"FD {fd:.1f} (0 best) — {status}"
        return f"classifier score / FD: n/a — {status}" if status else "classifier score / FD: n/a"

    def clear(self) -> None:
        for item in (self.grid_item, self.fresh_item):
            item.setImage(BLANK_GRID, autoLevels=False, levels=(0, 255))
        for kind, item in self.strip_items.items():
            item.setImage(BLANK_STRIP, autoLevels=False, levels=(0, 255))
            for text in self.score_texts[kind]:
                text.setText("")
        self.history.clear()
        self.status_label.setText("")

    # --- dataset controls -----------------------------------------------------------------------
    def extra_controls(self) -> QWidget:
        if self._controls is not None:
            return self._controls
        box = self._controls = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.dataset_label = QLabel("dataset: bundled MNIST subset")
        self.dataset_label.setObjectName("datasetInfoLabel")
        self.dataset_label.setWordWrap(True)
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.setObjectName("chooseDataDirButton")
        self.choose_button.setToolTip("a folder of images (PNG, JPEG…; any size and colour, made 28×28 grey; "
                                      "class subfolders give labels) or of IDX files (MNIST, Fashion-MNIST, "
                                      "KMNIST: train-images-idx3-ubyte[.gz]; <folder>/MNIST/raw works too)")
        self.choose_button.clicked.connect(self._choose_folder)
        self.open_button = QPushButton("Open file…")
        self.open_button.setObjectName("openDataFileButton")
        self.open_button.setToolTip("a .npy or .npz array of images (N, H, W), uint8 0–255 or float 0–1, "
                                    "labels under 'labels' in a .npz; or a single image file")
        self.open_button.clicked.connect(self._choose_file)
        self.download_button = QPushButton("Download MNIST…")
        self.download_button.setObjectName("downloadMnistButton")
        self.download_button.setToolTip(f"the 60,000 training digits (about 10 MB) into {mnist_cache_dir()}")
        self.download_button.clicked.connect(self.start_download)
        self.load_progress = QProgressBar()
        self.load_progress.setObjectName("loadProgress")
        self.load_progress.setVisible(False)
        self.cancel_load_button = QPushButton("Cancel loading")
        self.cancel_load_button.setObjectName("cancelLoadButton")
        self.cancel_load_button.setVisible(False)
        self.cancel_load_button.clicked.connect(self.cancel_load)
        self.progress = QProgressBar()
        self.progress.setObjectName("downloadProgress")
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setObjectName("cancelDownloadButton")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_download)
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.open_button)
        self.arch_combo = QComboBox()
        self.arch_combo.setObjectName("archCombo")
        for arch in ARCHS:
            self.arch_combo.addItem(ARCH_LABELS[arch], arch)
            self.arch_combo.setItemData(self.arch_combo.count() - 1, ARCH_TIPS[arch], Qt.ItemDataRole.ToolTipRole)
        self.arch_combo.setCurrentIndex(self.arch_combo.findData(self._arch))
        self.arch_combo.setToolTip("the networks G and D (--arch); changing it starts a new run with the "
                                   "loss, learning rates and width that model was measured with")
        self.arch_combo.currentIndexChanged.connect(self._arch_chosen)
        model = QHBoxLayout()
        model.addWidget(QLabel("model"))
        model.addWidget(self.arch_combo, 1)
        layout.addLayout(model)
        layout.addWidget(self.dataset_label)
        layout.addLayout(buttons)
        layout.addWidget(self.load_progress)
        layout.addWidget(self.cancel_load_button)
        layout.addWidget(self.download_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.cancel_button)
        return box

    def config_changes(self) -> dict:
        changes = {"data_dir": self._data_dir} if self._data_dir is not None else {}
        return {**changes, "extra": {"arch": self._arch}} if self._arch != ARCHS[0] else changes

    def _arch_chosen(self, _index: int) -> None:
        """A new run of every lane with the chosen model and the settings it trains with."""
        arch = self.arch_combo.currentData()
        if arch == self._arch:
            return
        self._arch = arch
        preset = TrainConfig.for_mode("mnist", extra={"arch": arch})
        changes = {key: getattr(preset, key) for key in MNIST_ARCHS[arch]}
        self.restart_requested.emit({"extra": {"arch": arch}, **changes})
        self.message.emit(f"Model {ARCH_LABELS[arch]}: every lane starts again (loss {preset.loss}, "
                          f"lr_D = {preset.lr_d:g}, lr_G = {preset.lr_g:g}, k_G = {preset.k_g}, batch {preset.batch}, "
                          f"width {preset.hidden})")

    def sync_to_config(self, cfg) -> None:
        """Show the run's model in the combo (without asking for a new run) and say what the grid shows."""
        self._arch = cfg.extra.get("arch", ARCHS[0])
        if self._controls is not None:
            self.arch_combo.blockSignals(True)
            self.arch_combo.setCurrentIndex(self.arch_combo.findData(self._arch))
            self.arch_combo.blockSignals(False)
        self._title_grids()

    def _title_grids(self) -> None:
        """Grid titles that say whether they show G or the moving average of its weights."""
        averaged = self._arch != "conv-legacy"
        for widget, title in zip((self.grid_widget, self.fresh_widget), self._titles):
            widget.title.setText(title + (", G's weights averaged" if averaged else ""), color="#333333", size="10pt")

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of images (class subfolders give labels) or of IDX files",
                                                self._start_dir())
        if path:
            self.load_data(path)

    def _choose_file(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in (".npy", ".npz", *sorted(IMAGE_SUFFIXES)))
        path, _ = QFileDialog.getOpenFileName(self, "Image array (.npy, .npz) or an image", self._start_dir(),
                                              f"Image data ({patterns});;All files (*)")
        if path:
            self.load_data(path)

    def _start_dir(self) -> str:
        return str(Path(self._data_dir).parent) if self._data_dir else str(Path.home())

    def load_data(self, path: str | Path) -> None:
        """Read `path` (any image source: `load_images`) on a background thread, with progress and
        Cancel; once read, name what was loaded and ask for a new run on it. A source that cannot be
        used is a message and the current data stays. A load already running is cancelled first."""
        self.extra_controls()
        self.cancel_load()
        path = str(path)
        self.load_progress.setRange(0, 0)
        self.load_progress.setFormat(f"reading {Path(path).name}… %p%")
        self.load_progress.setVisible(True)
        self.cancel_load_button.setVisible(True)
        self.message.emit(f"reading {path}…")
        self._images_load.start(path, lambda path, progress, cancel: load_images(path, progress, cancel).describe())

    @property
    def loading(self) -> bool:
        return self._images_load.running

    def cancel_load(self, timeout: float = LOAD_JOIN_TIMEOUT) -> bool:
        """Stop a load that is running and wait for its thread (it stops between two files or chunks);
        True when no load thread is left."""
        if self._images_load.running:
            self.message.emit("loading cancelled; the current data stays")
        if not self._images_load.cancel(timeout):
            return False
        self._end_load()
        return True

    def shutdown(self, timeout: float = LOAD_JOIN_TIMEOUT) -> bool:
        """The window is closing: cancel a load and a download and join their threads (a cancelled
        download removes its .part file). True when neither thread is left."""
        loaded = self.cancel_load(timeout)
        abort(self._cancel)
        if self._download is not None:
            self._download.join(timeout)
        return loaded and not (self._download is not None and self._download.is_alive())

    def _end_load(self) -> None:
        if self._controls is not None:
            self.load_progress.setVisible(False)
            self.cancel_load_button.setVisible(False)

    def _on_load_progress(self, done: int, total: int) -> None:
        if total:
            self.load_progress.setRange(0, 1000)
            self.load_progress.setValue(int(1000 * done / total))

    def _on_load_finished(self, path: str, what: str) -> None:
        self._end_load()
        self._data_dir = path
        self.message.emit(f"loaded {what}")
        self.restart_requested.emit({"data_dir": path})

    def _on_load_failed(self, path: str, reason: str, cancelled: bool) -> None:
        self._end_load()
        self.message.emit(f"cannot use {path}: {'loading cancelled' if cancelled else reason}; the current data stays")

    # --- download -------------------------------------------------------------------------------
    def start_download(self) -> None:
        """Fetch MNIST in a background thread; progress shows inline, Cancel stops it."""
        if self._download is not None and self._download.is_alive():
            return
        self.extra_controls()
        self._cancel = threading.Event()
        dest = self.download_dir or mnist_cache_dir()
        signals, cancel, base_url, files = self._dl, self._cancel, self.download_base_url, self.download_files

        def run() -> None:
            try:
                folder = download_mnist(dest, signals.progress.emit, base_url=base_url, files=files, cancel=cancel)
                signals.finished.emit(str(folder))
            except DownloadCancelled:
                signals.failed.emit("download cancelled")
            except Exception as exc:  # network, disk or checksum trouble: reported, never raised into Qt
                signals.failed.emit(f"download failed: {exc}")

        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.download_button.setEnabled(False)
        self.message.emit(f"downloading MNIST into {dest}…")
        self._download = threading.Thread(target=run, name="ganviz-mnist-download", daemon=True)
        self._download.start()

    def cancel_download(self) -> None:
        abort(self._cancel)  # also ends a read that waits on a stalled server

    def _end_download(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.download_button.setEnabled(True)

    def _on_download_progress(self, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.1f} / {total / 1e6:.1f} MB")

    def _on_download_finished(self, folder: str) -> None:
        self._end_download()
        self.message.emit(f"MNIST downloaded into {folder}")
        self._data_dir = folder
        self.restart_requested.emit({"data_dir": folder})

    def _on_download_failed(self, reason: str) -> None:
        self._end_download()
        self.message.emit(reason + "; the current dataset stays")


class LaneMnist(LaneView):
    """One lane of the MNIST mode as a small multiple: G(z) on the fixed noise."""

    full_view = MnistView
    key = "G(z) on the same fixed noise z in every lane"

    def __init__(self, lane_id: int, color: str, parent=None):
        super().__init__(lane_id, color, parent)
        widget = pg.GraphicsLayoutWidget()
        widget.setBackground("w")
        widget.ci.setContentsMargins(0, 0, 0, 0)
        self.plot = widget.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.plot.setMenuEnabled(False)
        self.grid_item = pg.ImageItem(axisOrder="row-major")
        self.grid_item.setImage(BLANK_GRID, levels=(0, 255))
        self.plot.addItem(self.grid_item)
        self.plot.setRange(xRange=(0, BLANK_GRID.shape[1]), yRange=(0, BLANK_GRID.shape[0]), padding=0)
        self._add_graphics(widget)

    def draw(self, pic) -> None:
        if isinstance(pic, PictureMnist):
            self.grid_item.setImage(pic.grid, autoLevels=False, levels=(0, 255))

    def clear(self) -> None:
        super().clear()
        self.grid_item.setImage(BLANK_GRID, levels=(0, 255))
