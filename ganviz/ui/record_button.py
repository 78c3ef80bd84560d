"""The window's Record button: grabs the view a few times a second from the UI thread (training
runs on the worker thread and is not held up) and writes a GIF (or MP4) when recording stops."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QPushButton

from ganviz.recording import DEFAULT_FPS, RecordError, check_path, save_animation

MAX_WIDTH = 900  # frames wider than this are scaled down (GIF size)


class Recorder:
    def __init__(self, window, fps: float = DEFAULT_FPS):
        self.window = window
        self.fps = fps
        self.images: list[QImage] = []
        self.timer = QTimer(window)
        self.timer.setInterval(round(1000 / fps))
        self.timer.timeout.connect(self.grab_frame)
        self.button = QPushButton("● Record", objectName="recordButton")
        self.button.setCheckable(True)
        self.button.setToolTip("Record the view as an animated GIF (MP4 with imageio-ffmpeg installed); "
                               f"{fps:g} frames per second; press again to stop and save")
        self.button.toggled.connect(self._toggled)

    def target(self):
        return getattr(self.window, "stack", None) or self.window.centralWidget()

    def start(self) -> None:
        self.images = []
        self.grab_frame()
        self.timer.start()

    def grab_frame(self) -> None:
        image = self.target().grab().toImage()
        if image.width() > MAX_WIDTH:
            image = image.scaledToWidth(MAX_WIDTH, Qt.TransformationMode.SmoothTransformation)
        self.images.append(image.convertToFormat(QImage.Format.Format_RGB888))

    def stop(self, path: str | Path | None) -> int:
        """Stop grabbing; write the frames to `path` (None: discard). Returns the frames written."""
        self.timer.stop()
        images, self.images = self.images, []
        if path is None or not images:
            return 0
        from PIL import Image

        pil = []
        for image in images:
            ptr = image.constBits()
            pil.append(Image.frombuffer("RGB", (image.width(), image.height()), bytes(ptr), "raw", "RGB",
                                        image.bytesPerLine(), 1).copy())
        save_animation(pil, check_path(path), self.fps)
        return len(pil)

    def _toggled(self, on: bool) -> None:
        self.button.setText("■ Stop recording" if on else "● Record")
        if on:
            self.start()
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Save recording", str(Path.home() / "ganviz.gif"),
                                              "GIF (*.gif);;MP4 (*.mp4)")
        try:
            n = self.stop(path or None)
        except (RecordError, OSError) as exc:
            self.window.say(f"Could not save the recording: {exc}", error=True)
            return
        if n:
            self.window.say(f"Recorded {n} frames -> {path}")


def install_record_button(window) -> Recorder:
    recorder = Recorder(window)
    window.statusBar().addPermanentWidget(recorder.button)
    window.recorder = recorder
    return recorder
