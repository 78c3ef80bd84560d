"""Where the image mode's P_data comes from: a folder of IDX files or of image files, a .npy/.npz array,
the cached MNIST download, or the bundled subset; `load_images` dispatches on what a path is."""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from ganviz.core.mnist.idx import MAX_IDX_BYTES, DatasetError, read_idx, read_into
from ganviz.core.oserror import ReadCancelled

__all__ = ["DatasetError", "LoadCancelled", "ImageDataset", "cache_dir", "mnist_cache_dir", "bundled_path",
           "find_idx_files", "load_idx_dir", "load_bundled", "load_dataset", "load_images", "load_array",
           "load_image_folder", "IMAGE_SUFFIXES"]

SIDE = 28
BUNDLED_NAME = "mnist_5k.npz"
# train-images-idx3-ubyte, train-images.idx3-ubyte, …-ubyte.gz; the test split (t10k) is not P_data.
_IMAGES = re.compile(r"^train[-_.]images[-_.]idx3[-_.]ubyte(\.gz)?$", re.IGNORECASE)
_LABELS = re.compile(r"^train[-_.]labels[-_.]idx1[-_.]ubyte(\.gz)?$", re.IGNORECASE)

# Image files a folder may hold (what Pillow reads without external programs); anything else is ignored
# and counted in the message.
IMAGE_SUFFIXES = frozenset((".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".gif", ".tif", ".tiff",
                            ".webp", ".pgm", ".ppm", ".pbm", ".pnm", ".tga", ".ico", ".qoi"))
# The set is kept whole in memory as N × 28 × 28 bytes; the same 1 GiB as an IDX file (1.37 million
# images). A folder with more image files, or an array whose header declares more data, is refused
# before anything is decoded.
MAX_IMAGES = MAX_IDX_BYTES // (SIDE * SIDE)
MAX_PIXELS = 1 << 26   # one image file of more pixels (64 M, a 256 MB RGBA decode) is skipped as too large
ARRAY_KEYS = ("images", "x_train", "x", "data", "arr_0")   # where a .npz keeps its images, in this order
LABEL_KEYS = ("labels", "y_train", "y", "targets", "arr_1")
# Progress is reported as (done, total) in the loader's own units (files, images or bytes).
Progress = Callable[[int, int], None]


class LoadCancelled(Exception):
    """A load stopped by its `cancel` Event; nothing was kept."""


@dataclass
class ImageDataset:
    """Training images as uint8 (N, 28, 28), optional integer labels (N,), and where they came from.

    `classes` names the labels of a folder of class subfolders (label i is classes[i]); `ignored`
    says what the loader skipped (files that are not images, unreadable ones)."""

    images: np.ndarray
    labels: np.ndarray | None
    name: str          # e.g. "MNIST (bundled 5,000-image subset)" or "IDX from /data/fashion"
    source: Path | None = None
    classes: tuple[str, ...] | None = None
    ignored: str = ""

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def n_classes(self) -> int:
        """How many classes the labels can name (0 without labels)."""
        if self.classes is not None:
            return len(self.classes)
        return 0 if self.labels is None or len(self.labels) == 0 else int(self.labels.max()) + 1

    def describe(self) -> str:
        if self.classes is not None:
            labels = f"{len(self.classes)} class{'es' if len(self.classes) != 1 else ''}"
        else:
            labels = "labels" if self.has_labels else "no labels"
        text = f"{self.name}, {len(self):,} image{'s' if len(self) != 1 else ''}, {labels}"
        return f"{text} ({self.ignored})" if self.ignored else text

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
    root = Path(directory).expanduser()
    found = _find_idx(root)
    if found is None:
        raise DatasetError(f"no training image file (train-images-idx3-ubyte or train-images-idx3-ubyte.gz) "
                           f"in {root}, {root / 'raw'} or {root}/*/raw")
    return found


def _find_idx(root: Path) -> tuple[Path, Path | None] | None:
    """`find_idx_files` without the complaint: None when the folder holds no IDX training split."""
    place = root
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
    return None


def load_idx_dir(directory: str | Path, name: str | None = None, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> ImageDataset:
    """Load the IDX training split found in `directory` (labels optional), checking shapes and counts."""
    image_path, label_path = find_idx_files(directory)
    return _cached((*_file_key("idx", image_path, label_path), name),
                   lambda: _read_idx_split(directory, image_path, label_path, name, progress, cancel))


def _read_idx_split(directory, image_path: Path, label_path: Path | None, name: str | None,
                    progress: Progress | None, cancel: threading.Event | None) -> ImageDataset:
    images = _cancellable(read_idx, image_path, progress=progress, cancel=cancel)
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
        labels = _cancellable(read_idx, label_path, cancel=cancel)
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


def _cancellable(read, *args, **kwargs):
    """Call an idx reader, turning its ReadCancelled into this module's LoadCancelled."""
    try:
        return read(*args, **kwargs)
    except ReadCancelled as exc:
        raise LoadCancelled(str(exc)) from None


def load_bundled() -> ImageDataset:
    path = bundled_path()
    try:
        with np.load(path) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"the bundled MNIST subset {path} cannot be read: {exc}") from exc
    return ImageDataset(images, labels, f"MNIST (bundled {len(images):,}-image subset)", path)


def load_dataset(data_dir: str | Path | None = None) -> ImageDataset:
    """P_data for the image mode: `data_dir` (any image source, see `load_images`) when given, else the
    cached MNIST download, else the bundled subset."""
    if data_dir is not None:
        return load_images(data_dir)
    cached = mnist_cache_dir()
    try:
        if cached.is_dir():
            return load_idx_dir(cached, name="MNIST (downloaded)")
    except (DatasetError, OSError):
        pass  # an incomplete or unreadable cache must not stop the app: the bundled subset always works
    return load_bundled()


# --- any image source -----------------------------------------------------------------------------
def load_images(path: str | Path, progress: Progress | None = None,
                cancel: threading.Event | None = None) -> ImageDataset:
    """The image mode's one loader of a user's data; what `path` is decides how it is read:

    - a folder holding an IDX training split (train-images-idx3-ubyte[.gz], in it, raw/ or */raw/);
    - any other folder: its image files (PNG, JPEG, BMP, GIF, TIFF, WebP…), each made 28×28 grey
      (`to_side`); class subfolders give labels (the ImageFolder layout), a flat folder has none;
    - a .npy or .npz array of shape (N, H, W) (or (N, H, W, C) with 1, 3 or 4 channels), uint8 0–255
      or float 0–1, with labels from the .npz (`load_array`), fitted to 28×28 as `to_side` does;
    - an IDX image file (its folder is read) or a single image file (a set of one).

    Progress is reported as `progress(done, total)`; setting `cancel` stops the load with
    LoadCancelled. The last set loaded is kept (one slot, checked against the files' sizes and
    times), so the run that uses it after a check does not read it again."""
    root = Path(path).expanduser()
    try:
        is_dir, is_file = root.is_dir(), root.is_file()
    except OSError as exc:
        raise DatasetError(f"cannot read {root}: {exc.strerror or exc}") from exc
    if is_dir:
        if root.resolve() == mnist_cache_dir().resolve():
            return load_idx_dir(root, name="MNIST (downloaded)", progress=progress, cancel=cancel)
        if _find_idx(root) is not None:
            return load_idx_dir(root, progress=progress, cancel=cancel)
        return load_image_folder(root, progress, cancel)
    if not is_file:
        raise DatasetError(f"{root} does not exist")
    suffix = root.suffix.lower()
    if suffix in (".npy", ".npz"):
        return load_array(root, progress, cancel)
    if _IMAGES.match(root.name):
        return load_idx_dir(root.parent, progress=progress, cancel=cancel)
    if suffix in IMAGE_SUFFIXES:
        return load_image_folder(root, progress, cancel)
    raise DatasetError(f"{root} is neither a folder (of image or IDX files), a .npy/.npz array nor an image file")


_LAST: tuple[tuple, ImageDataset] | None = None
_LAST_LOCK = threading.Lock()


def _cached(key: tuple, build: Callable[[], ImageDataset]) -> ImageDataset:
    """The set of `key` if it was the last one loaded, else `build()` it (and remember it instead)."""
    global _LAST
    with _LAST_LOCK:
        if _LAST is not None and _LAST[0] == key:
            return _LAST[1]
    dataset = build()
    with _LAST_LOCK:
        _LAST = (key, dataset)
    return dataset


def forget_cached() -> None:
    """Drop the remembered set (tests; a caller that wants the memory back)."""
    global _LAST
    with _LAST_LOCK:
        _LAST = None


def _file_key(kind: str, *paths: Path | None) -> tuple:
    """Identifies what a file-based load would read: the files, their sizes and modification times."""
    key: list = [kind]
    for p in paths:
        if p is None:
            key.append(None)
            continue
        try:
            st = p.stat()
        except OSError as exc:
            raise DatasetError(f"cannot read {p}: {exc.strerror or exc}") from exc
        key.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(key)


def short_path(path: Path) -> str:
    """The last two parts of a path, e.g. …/data/flowers: enough to recognise it in a status line."""
    parts = Path(path).parts
    return str(path) if len(parts) <= 3 else "…/" + "/".join(parts[-2:])


# --- folders of image files ----------------------------------------------------------------------
def to_side(image) -> np.ndarray:
    """A PIL image of any size and colour → uint8 (28, 28) grey, as the image mode draws P_data:
    transparency composited onto black, grey = Pillow's ITU-R 601 luma (L), then the longer side
    resized to 28 pixels (antialiased, aspect kept) and the shorter one padded with black (the
    MNIST background) to 28, centred."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grey: scale, do not clip at 255
        image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257.0).round().astype(np.uint8))
    elif image.mode in ("I", "F"):
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float64), 0, 255).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
    grey = image.convert("L")
    w, h = grey.size
    scale = SIDE / max(w, h)
    size = (max(1, min(SIDE, round(w * scale))), max(1, min(SIDE, round(h * scale))))
    if size != (w, h):
        resample = getattr(Image, "Resampling", Image).LANCZOS
        grey = grey.resize(size, resample, reducing_gap=3.0)
    out = np.zeros((SIDE, SIDE), dtype=np.uint8)
    top, left = (SIDE - size[1]) // 2, (SIDE - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = np.asarray(grey, dtype=np.uint8)
    return out


def _scan_folder(root: Path, cancel: threading.Event | None = None
                 ) -> tuple[list[tuple[Path, int]], tuple[str, ...] | None, int, int]:
    """The image files of a folder with their label: (files, class names or None, files ignored as
    not images, files ignored for lying beside the class folders). Subfolders (not hidden) that hold
    images are classes, in sorted order, and every image below one has its label; with none, the
    folder's own image files form an unlabelled set."""
    try:
        entries = sorted(root.iterdir())
        subdirs = [d for d in entries if d.is_dir() and not d.name.startswith(".")]
        per_class: dict[str, list[Path]] = {}
        not_images = 0
        for d in subdirs:
            found: list[Path] = []
            for dirpath, dirnames, filenames in os.walk(d, onerror=_raise):
                if cancel is not None and cancel.is_set():  # a deep tree (a home folder picked by mistake)
                    raise LoadCancelled(f"stopped while listing {dirpath}")
                dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
                for n in sorted(filenames):
                    if Path(n).suffix.lower() in IMAGE_SUFFIXES and not n.startswith("."):
                        found.append(Path(dirpath) / n)
                    else:
                        not_images += 1
                if sum(map(len, per_class.values())) + len(found) > MAX_IMAGES:
                    raise DatasetError(f"{root} holds more than {MAX_IMAGES:,} image files, more than the image "
                                       f"mode keeps in memory ({MAX_IDX_BYTES >> 30} GiB at 28×28 bytes each)")
            if found:
                per_class[d.name] = found
        own = [p for p in entries if p.is_file()]
    except OSError as exc:
        raise DatasetError(f"cannot read folder {getattr(exc, 'filename', None) or root}: "
                           f"{exc.strerror or exc}") from exc
    own_images = [p for p in own if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    not_images += len(own) - len(own_images)
    if per_class:
        classes = tuple(per_class)
        files = [(p, i) for i, name in enumerate(classes) for p in per_class[name]]
        return files, classes, not_images, len(own_images)
    if len(own_images) > MAX_IMAGES:
        raise DatasetError(f"{root} holds {len(own_images):,} image files, more than the {MAX_IMAGES:,} the image "
                           f"mode keeps in memory ({MAX_IDX_BYTES >> 30} GiB at 28×28 bytes each)")
    return [(p, -1) for p in own_images], None, not_images, 0


def _raise(exc: OSError) -> None:
    raise exc


def load_image_folder(path: str | Path, progress: Progress | None = None,
                      cancel: threading.Event | None = None) -> ImageDataset:
    """A folder of image files (or one image file) as the image mode's P_data; see `load_images`.
    Files that are not images are ignored, image files that cannot be decoded (damaged, too large)
    are skipped, and both are counted in the set's description; a folder with no usable image is
    refused."""
    root = Path(path).expanduser()
    if root.is_file():
        files, classes, not_images, beside = [(root, -1)], None, 0, 0
    else:
        files, classes, not_images, beside = _scan_folder(root, cancel)
    if not files:
        what = f" ({not_images:,} other file{'s' if not_images != 1 else ''} ignored)" if not_images else ""
        raise DatasetError(f"no image files (PNG, JPEG, BMP, GIF, TIFF, WebP…), no class subfolders of them "
                           f"and no IDX files (train-images-idx3-ubyte[.gz]) in {root}{what}")
    key = ("folder", str(root.resolve()), _files_signature([p for p, _ in files]))
    return _cached(key, lambda: _decode_folder(root, files, classes, not_images, beside, progress, cancel))


def _files_signature(files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        try:
            st = p.stat()
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        except OSError:
            h.update(f"{p}\0?\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _decode_folder(root: Path, files: list[tuple[Path, int]], classes: tuple[str, ...] | None, not_images: int,
                   beside: int, progress: Progress | None, cancel: threading.Event | None) -> ImageDataset:
    from PIL import Image

    images = np.empty((len(files), SIDE, SIDE), dtype=np.uint8)
    labels = np.empty(len(files), dtype=np.int64)
    kept, bad = 0, []
    for i, (p, label) in enumerate(files):
        if cancel is not None and cancel.is_set():
            raise LoadCancelled(f"stopped after {i:,} of {len(files):,} images")
        try:
            with Image.open(p) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(f"{im.width}×{im.height} pixels, more than {MAX_PIXELS:,}")
                im.draft("L", (SIDE, SIDE))  # JPEG decodes at a reduced scale: far faster for photos
                images[kept] = to_side(im)
        except Exception as exc:  # damaged or unsupported file: skipped, named in the message
            bad.append(f"{p.name}: {getattr(exc, 'strerror', None) or exc}")
        else:
            labels[kept] = label
            kept += 1
        if progress is not None:
            progress(i + 1, len(files))
    if kept == 0:
        raise DatasetError(f"none of the {len(files):,} image files in {root} could be read "
                           f"(e.g. {bad[0]})")
    images, labels = images[:kept].copy(), labels[:kept].copy()
    notes = []
    if bad:
        notes.append(f"{len(bad):,} unreadable image file{'s' if len(bad) != 1 else ''} skipped, e.g. {bad[0]}")
    if not_images:
        notes.append(f"{not_images:,} file{'s' if not_images != 1 else ''} that {'are' if not_images != 1 else 'is'}"
                     f" not {'images' if not_images != 1 else 'an image'} ignored")
    if beside:
        notes.append(f"{beside:,} image{'s' if beside != 1 else ''} beside the class folders ignored")
    name = f"{'image folder' if root.is_dir() else 'image'} {short_path(root)}"
    if classes is not None:
        labels = labels.astype(np.uint8) if len(classes) <= 256 else labels
        return ImageDataset(images, labels, name, root, classes=classes, ignored="; ".join(notes))
    return ImageDataset(images, None, name, root, ignored="; ".join(notes))


# --- arrays ---------------------------------------------------------------------------------------
def load_array(path: str | Path, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> ImageDataset:
    """A .npy of images, or a .npz with images (key images, x_train, x, data or arr_0, or its only
    array) and optional labels (labels, y_train, y, targets or arr_1): shape (N, H, W), or
    (N, H, W, C) with C = 1, 3 (RGB) or 4 (RGBA); uint8 (or any integer type) 0–255, or float 0–1.
    Any H × W is made 28 × 28 as `to_side` does. Headers are read first and anything that would
    not fit the image mode's memory is refused before its data is read; nothing is ever unpickled."""
    path = Path(path).expanduser()
    return _cached(_file_key("array", path), lambda: _read_array_file(path, progress, cancel))


def _read_array_file(path: Path, progress: Progress | None, cancel: threading.Event | None) -> ImageDataset:
    labels = None
    try:
        if path.suffix.lower() == ".npz":
            try:
                archive = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                raise DatasetError(f"{path} is not a valid .npz (zip) file: {exc}") from None
            with archive:
                members = {n[:-4]: n for n in archive.namelist() if n.endswith(".npy")}
                image_key = next((k for k in ARRAY_KEYS if k in members), None)
                if image_key is None and len(members) == 1:
                    image_key = next(iter(members))
                if image_key is None:
                    raise DatasetError(f"{path} holds arrays {', '.join(sorted(members)) or 'none'}; the images "
                                       f"must be under one of {', '.join(ARRAY_KEYS)} (or be its only array)")
                label_key = next((k for k in LABEL_KEYS if k in members and k != image_key), None)
                with archive.open(members[image_key]) as f:
                    raw = _read_npy(f, f"{path}[{image_key}]", progress, cancel)
                if label_key is not None:
                    with archive.open(members[label_key]) as f:
                        labels = _read_npy(f, f"{path}[{label_key}]", None, cancel)
        else:
            with open(path, "rb") as f:
                raw = _read_npy(f, str(path), progress, cancel)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    images = _array_to_images(raw, str(path), cancel)
    if labels is not None:
        labels = _check_labels(labels, len(images), str(path))
    name = f"array {short_path(path)}"
    return ImageDataset(images, labels, name, path)


def _read_npy(f: BinaryIO, name: str, progress: Progress | None, cancel: threading.Event | None) -> np.ndarray:
    """One .npy from a stream: the header first (its shape bounds what is read), then exactly its data."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = npy.read_array_header_2_0(f)
        else:
            raise DatasetError(f"{name}: .npy format version {version} is not supported")
    except DatasetError:
        raise
    except (ValueError, EOFError) as exc:
        raise DatasetError(f"{name} is not a .npy array: {exc}") from None
    if dtype.hasobject or dtype.fields is not None:
        raise DatasetError(f"{name} holds {'Python objects' if dtype.hasobject else 'records'} ({dtype}); the "
                           "image mode reads plain numeric arrays only (and never unpickles)")
    if dtype.kind not in "uif":
        raise DatasetError(f"{name} holds {dtype} values; pixels must be integers 0–255 or floats 0–1")
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_IDX_BYTES:
        raise DatasetError(f"{name} declares shape {shape} of {dtype}: {size:,} bytes, more than the "
                           f"{MAX_IDX_BYTES >> 30} GiB the image mode loads (it keeps the whole set in memory)")
    try:
        out = np.empty(math.prod(shape), dtype=dtype)
    except MemoryError:
        raise DatasetError(f"not enough memory for {name} ({size:,} bytes)") from None
    got = _cancellable(read_into, f, memoryview(out.view(np.uint8)), progress, cancel)
    if got < size:
        raise DatasetError(f"{name} is truncated: its header declares shape {shape} ({size:,} bytes) "
                           f"but only {got:,} bytes follow")
    return out.reshape(shape, order="F" if fortran else "C")


def _array_to_images(raw: np.ndarray, name: str, cancel: threading.Event | None) -> np.ndarray:
    """Validate an image array and make it uint8 (N, 28, 28), 1024 images at a time (bounded extra memory)."""
    shape = raw.shape
    channels = shape[3] if raw.ndim == 4 else None
    if raw.ndim not in (3, 4) or (channels is not None and channels not in (1, 3, 4)):
        raise DatasetError(f"{name} has shape {shape}; images must be (N, H, W), or (N, H, W, C) with C = 1, 3 "
                           "or 4 channels (a single image is (1, H, W))")
    if 0 in shape:
        raise DatasetError(f"{name} holds no images (shape {shape})")
    if raw.dtype.kind == "f":
        finite = np.isfinite(raw)
        if not finite.all():
            raise DatasetError(f"{name} holds {int((~finite).sum()):,} NaN or infinite values")
        lo, hi = float(raw.min()), float(raw.max())
        if lo < 0 or hi > 1:
            hint = "; divide by 255 or save as uint8" if hi <= 255 and lo >= 0 else ""
            raise DatasetError(f"{name}: float pixels must be in [0, 1] (found {lo:g} to {hi:g}){hint}")
    else:
        lo, hi = int(raw.min()), int(raw.max())
        if lo < 0 or hi > 255:
            raise DatasetError(f"{name}: integer pixels must be 0–255 (found {lo} to {hi})")
    n = shape[0]
    out = np.empty((n, SIDE, SIDE), dtype=np.uint8)
    step = 1024
    for start in range(0, n, step):
        if cancel is not None and cancel.is_set():
            raise LoadCancelled(f"stopped after {start:,} of {n:,} images")
        block = raw[start:start + step]
        if block.dtype.kind == "f":
            block = block * 255.0
        block = block.astype(np.float32)
        if channels == 1:
            block = block[..., 0]
        elif channels is not None:
            grey = block[..., 0] * 0.299 + block[..., 1] * 0.587 + block[..., 2] * 0.114  # Pillow's L
            block = grey * (block[..., 3] / 255.0) if channels == 4 else grey  # transparent onto black
        if block.shape[1:] != (SIDE, SIDE):
            block = _fit_block(block)
        out[start:start + len(block)] = np.clip(np.rint(block), 0, 255).astype(np.uint8)
    return out


def _fit_block(block: np.ndarray) -> np.ndarray:
    """Images (n, H, W) as float → (n, 28, 28) by the rule of `to_side` (longer side to 28, aspect
    kept, black padding), resized all at once: antialiased bilinear (torch), 50× faster than one
    Pillow call per image and within a grey level or two of Pillow's Lanczos."""
    import torch
    import torch.nn.functional as F

    n, h, w = block.shape
    scale = SIDE / max(h, w)
    size = (max(1, min(SIDE, round(h * scale))), max(1, min(SIDE, round(w * scale))))
    small = F.interpolate(torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))[:, None], size=size,
                          mode="bilinear", antialias=True, align_corners=False)[:, 0].numpy()
    out = np.zeros((n, SIDE, SIDE), dtype=np.float32)
    top, left = (SIDE - size[0]) // 2, (SIDE - size[1]) // 2
    out[:, top:top + size[0], left:left + size[1]] = small
    return out


def _check_labels(labels: np.ndarray, n: int, name: str) -> np.ndarray:
    if labels.dtype.kind not in "ui":
        raise DatasetError(f"{name}: labels must be integers (got {labels.dtype})")
    if labels.shape != (n,):
        raise DatasetError(f"{name}: labels have shape {labels.shape}; one per image means ({n},)")
    if labels.min() < 0:
        raise DatasetError(f"{name}: labels must not be negative (found {int(labels.min())})")
    return labels.astype(np.uint8) if labels.max() <= 255 else labels.astype(np.int64)
