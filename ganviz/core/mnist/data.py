"""Where the image mode's P_data comes from: an IDX folder, the cached MNIST download, or the bundled subset."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganviz.core.mnist.idx import DatasetError, read_idx

__all__ = ["DatasetError", "ImageDataset", "cache_dir", "mnist_cache_dir", "bundled_path", "find_idx_files",
           "load_idx_dir", "load_bundled", "load_dataset"]

SIDE = 28
BUNDLED_NAME = "mnist_5k.npz"
# train-images-idx3-ubyte, train-images.idx3-ubyte, …-ubyte.gz; the test split (t10k) is not P_data.
_IMAGES = re.compile(r"^train[-_.]images[-_.]idx3[-_.]ubyte(\.gz)?$", re.IGNORECASE)
_LABELS = re.compile(r"^train[-_.]labels[-_.]idx1[-_.]ubyte(\.gz)?$", re.IGNORECASE)


@dataclass
class ImageDataset:
    """Training images as uint8 (N, 28, 28), optional labels uint8 (N,), and where they came from."""

    images: np.ndarray
    labels: np.ndarray | None
    name: str          # e.g. "MNIST (bundled 5,000-image subset)" or "IDX from /data/fashion"
    source: Path | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    def describe(self) -> str:
        return f"{self.name}, {len(self):,} images, {'labels' if self.has_labels else 'no labels'}"

    def content_hash(self) -> str:
        """A short digest of the pixels and labels: the key of the classifier cached for this data."""
        h = hashlib.sha256()
        h.update(np.asarray(self.images.shape, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.images).data)
        if self.labels is not None:
            h.update(np.ascontiguousarray(self.labels).data)
        return h.hexdigest()[:20]


def cache_dir() -> Path:
    """ganviz's user cache: $GANVIZ_CACHE_DIR, else $XDG_CACHE_HOME/ganviz, else ~/.cache/ganviz (not created)."""
    if os.environ.get("GANVIZ_CACHE_DIR"):
        return Path(os.environ["GANVIZ_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ganviz"


def mnist_cache_dir() -> Path:
    """Where `download_mnist` puts MNIST by default and where it is looked for when no folder is given."""
    return cache_dir() / "mnist"


def bundled_path() -> Path:
    """The bundled 5,000-image subset: `assets/` next to the package in a checkout, `ganviz/assets/` when installed."""
    package = Path(__file__).resolve().parents[2]  # …/ganviz
    candidates = (package / "assets" / BUNDLED_NAME, package.parent / "assets" / BUNDLED_NAME)
    for path in candidates:
        if path.is_file():
            return path
    raise DatasetError(f"the bundled MNIST subset ({BUNDLED_NAME}) is missing from this installation; "
                       f"looked in {', '.join(str(p.parent) for p in candidates)}")


def find_idx_files(directory: str | Path) -> tuple[Path, Path | None]:
    """The training image file (and label file, if any) in `directory`, `directory/raw`,
    `directory/<name>/raw` (torchvision's layout, e.g. MNIST/raw, FashionMNIST/raw)."""
    root = place = Path(directory).expanduser()
    try:  # an unreadable folder (permissions, a vanished mount) is a dataset that cannot be used
        if not root.exists():
            raise DatasetError(f"folder {root} does not exist")
        if not root.is_dir():
            raise DatasetError(f"{root} is not a folder")
        places = [root, root / "raw", *sorted(p / "raw" for p in root.iterdir() if p.is_dir())]
        for place in places:
            if not place.is_dir():
                continue
            files = sorted(p for p in place.iterdir() if p.is_file())
            images = [p for p in files if _IMAGES.match(p.name)]
            if images:
                # Prefer the uncompressed file when both exist (torchvision keeps both).
                image = min(images, key=lambda p: p.suffix == ".gz")
                labels = sorted((p for p in files if _LABELS.match(p.name)), key=lambda p: p.suffix == ".gz")
                return image, (labels[0] if labels else None)
    except OSError as exc:
        raise DatasetError(f"cannot read folder {place}: {exc.strerror or exc}") from exc
    raise DatasetError(f"no training image file (train-images-idx3-ubyte or train-images-idx3-ubyte.gz) "
                       f"in {root}, {root / 'raw'} or {root}/*/raw")


def load_idx_dir(directory: str | Path, name: str | None = None) -> ImageDataset:
    """Load the IDX training split found in `directory` (labels optional), checking shapes and counts."""
    image_path, label_path = find_idx_files(directory)
    images = read_idx(image_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DatasetError(f"{image_path}: expected unsigned-byte images of shape (N, rows, cols), "
                           f"got {images.dtype} {images.shape}")
    if images.shape[1:] != (SIDE, SIDE):
        raise DatasetError(f"{image_path}: images are {images.shape[1]}×{images.shape[2]}; "
                           f"the image mode needs {SIDE}×{SIDE} (MNIST, Fashion-MNIST, KMNIST…)")
    if len(images) == 0:
        raise DatasetError(f"{image_path} holds no images")
    labels = None
    if label_path is not None:
        labels = read_idx(label_path)
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise DatasetError(f"{label_path}: expected one unsigned byte per image, got {labels.dtype} {labels.shape}")
        if len(labels) != len(images):
            raise DatasetError(f"{image_path.name} holds {len(images):,} images but {label_path.name} "
                               f"holds {len(labels):,} labels; they must match")
        if labels.max() > 9:
            raise DatasetError(f"{label_path}: labels must be 0-9 (found {int(labels.max())})")
    if name is None:
        name = f"IDX from {Path(directory).expanduser()}"
    return ImageDataset(images, labels, name, image_path.parent)


def load_bundled() -> ImageDataset:
    path = bundled_path()
    try:
        with np.load(path) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"the bundled MNIST subset {path} cannot be read: {exc}") from exc
    return ImageDataset(images, labels, f"MNIST (bundled {len(images):,}-image subset)", path)


def load_dataset(data_dir: str | Path | None = None) -> ImageDataset:
    """P_data for the image mode: `data_dir` when given, else the cached MNIST download, else the bundled subset."""
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if path.resolve() == mnist_cache_dir().resolve():
            return load_idx_dir(path, name="MNIST (downloaded)")
        return load_idx_dir(path)
    cached = mnist_cache_dir()
    try:
        if cached.is_dir():
            return load_idx_dir(cached, name="MNIST (downloaded)")
    except (DatasetError, OSError):
        pass  # an incomplete or unreadable cache must not stop the app: the bundled subset always works
    return load_bundled()
