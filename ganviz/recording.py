"""Recordings of the view as an animation: GIF through Pillow, MP4 when imageio-ffmpeg is installed.

`ganviz train … --record FILE.gif [--fps N]` keeps the picture of a lane at about MAX_FRAMES evenly
spaced measurements while it trains (one extra evaluation with pictures each, a few per cent of the
run) and draws them with the window's view after training, so drawing costs training nothing.
The window's Record button (ganviz.ui.record_button) grabs the view a few times a second instead.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

MAX_FRAMES = 60
DEFAULT_FPS = 5


class RecordError(ValueError):
    pass


def check_path(path: str | Path) -> Path:
    """The path of a recording we can write, or RecordError saying why not (one line)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise RecordError("GIF recordings need Pillow: pip install Pillow") from None
    elif suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
            import imageio  # noqa: F401
        except ImportError:
            raise RecordError("MP4 recordings need an encoder: pip install 'ganviz[video]' (imageio-ffmpeg), "
                              "or record a .gif") from None
    else:
        raise RecordError(f"{path.name}: a recording is a .gif (or .mp4 with imageio-ffmpeg installed)")
    if not path.parent.exists():
        raise RecordError(f"{path.parent} does not exist")
    return path


def save_animation(images: list, path: str | Path, fps: float) -> None:
    """Write PIL images as a GIF (or MP4) at `fps` frames per second."""
    path = Path(path)
    if not images:
        raise RecordError("nothing was recorded")
    if path.suffix.lower() == ".mp4":
        import imageio
        import numpy as np

        with imageio.get_writer(str(path), fps=fps, macro_block_size=1) as writer:
            for image in images:
                writer.append_data(np.asarray(image.convert("RGB")))
        return
    frames = [image.convert("P", palette=1, colors=255) if image.mode != "P" else image for image in images]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0,
                   optimize=False, disposal=1)


class HeadlessRecorder:
    """Keeps Frames of one lane of a Session while `ganviz train` runs, every `every` measured rows."""

    def __init__(self, session, path: Path, fps: float, steps: int, log_every: int, lane_id: int | None = None):
        self.session = session
        self.path = path
        self.fps = fps
        self.lane_id = session.lanes[0].id if lane_id is None else lane_id
        rows = max(1, steps // max(1, log_every))
        self.every = max(1, math.ceil(rows / MAX_FRAMES))
        self.rows = 0
        self.frames: list = []
        session.on_row.append(self.on_row)

    def on_row(self, lane, row) -> None:
        if lane.id != self.lane_id:
            return
        if self.rows % self.every == 0:
            lane.picture = lane.trainer.evaluate(views=True).picture
            self.frames.append(self.session.frame())
        self.rows += 1

    def finish(self, size: tuple[int, int] = (960, 680)) -> int:
        """Draw the kept Frames and write the animation; returns the number of frames."""
        from PIL import Image

        from ganviz.ui.render import render_lane

        self.session.on_row.remove(self.on_row)
        images = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, frame in enumerate(self.frames):
                png = Path(tmp) / f"{i}.png"
                render_lane(frame, self.lane_id, png, size=size)
                with Image.open(png) as im:
                    images.append(im.convert("RGB"))
        save_animation(images, self.path, self.fps)
        return len(images)
