"""The IDX reader and dataset resolution of the image mode: formats, layouts and every error it names."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from ganviz.core.mnist.data import (DatasetError, bundled_path, cache_dir, find_idx_files, load_dataset, load_idx_dir,
                                    mnist_cache_dir)
from ganviz.core.mnist.idx import read_idx, write_idx


def fake_digits(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_split(folder, images, labels=None, gz=True, prefix="train"):
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
    if labels is not None:
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)


@pytest.mark.parametrize("gz", [True, False])
def test_reads_gzip_and_raw_idx(tmp_path, gz):
    images, labels = fake_digits()
    write_split(tmp_path, images, labels, gz=gz)
    ds = load_idx_dir(tmp_path)
    assert ds.images.dtype == np.uint8 and ds.images.shape == (12, 28, 28)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert "12 images, labels" in ds.describe()


def test_gzip_detected_by_magic_without_suffix(tmp_path):
    images, _ = fake_digits(3)
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, images, compress=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(path), images)


def test_torchvision_layout_and_test_split_ignored(tmp_path):
    images, labels = fake_digits(5)
    write_split(tmp_path / "MNIST" / "raw", images, labels)
    other, _ = fake_digits(7, seed=1)
    write_split(tmp_path / "MNIST" / "raw", other, None, prefix="t10k")
    image_file, label_file = find_idx_files(tmp_path)
    assert image_file.name == "train-images-idx3-ubyte.gz" and label_file.name == "train-labels-idx1-ubyte.gz"
    assert len(load_idx_dir(tmp_path)) == 5


def test_labels_are_optional(tmp_path):
    images, _ = fake_digits(4)
    write_split(tmp_path, images)
    ds = load_idx_dir(tmp_path)
    assert ds.labels is None and not ds.has_labels
    assert "no labels" in ds.describe()


def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_idx_dir(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no training image file"):
        load_idx_dir(tmp_path)


def test_wrong_magic(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x50\x4b\x03\x04" + bytes(100))  # a zip, say
    with pytest.raises(DatasetError, match="wrong magic number 504b0304"):
        load_idx_dir(tmp_path)


def test_truncated_data(tmp_path):
    images, _ = fake_digits(3)
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, images)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="truncated"):
        load_idx_dir(tmp_path)


def test_truncated_header(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DatasetError, match="header is incomplete"):
        load_idx_dir(tmp_path)


def test_corrupt_gzip(tmp_path):
    images, _ = fake_digits(3)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, images)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # an interrupted download
    with pytest.raises(DatasetError, match="not a valid gzip file"):
        load_idx_dir(tmp_path)
    path.write_bytes(b"\x1f\x8b" + bytes(50))
    with pytest.raises(DatasetError, match="not a valid gzip file"):
        load_idx_dir(tmp_path)


def test_mismatched_counts(tmp_path):
    images, labels = fake_digits(6)
    write_split(tmp_path, images, labels[:5])
    with pytest.raises(DatasetError, match="6 images but .* 5 labels"):
        load_idx_dir(tmp_path)


def test_wrong_image_size(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(DatasetError, match="32×32"):
        load_idx_dir(tmp_path)


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


def test_bundled_subset_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("GANVIZ_CACHE_DIR", str(tmp_path))  # an empty cache: no downloaded MNIST
    ds = load_dataset(None)
    assert ds.source == bundled_path()
    assert ds.images.shape == (5000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels is not None and set(np.unique(ds.labels)) == set(range(10))
    assert ds.images.max() == 255 and ds.images.min() == 0
    assert ds.describe() == "MNIST (bundled 5,000-image subset), 5,000 images, labels"


def test_cached_download_preferred_over_bundled(tmp_path, monkeypatch):
    monkeypatch.setenv("GANVIZ_CACHE_DIR", str(tmp_path))
    images, labels = fake_digits(9)
    write_split(mnist_cache_dir(), images, labels)
    ds = load_dataset(None)
    assert len(ds) == 9 and ds.name == "MNIST (downloaded)"


def test_incomplete_cache_falls_back_to_bundled(tmp_path, monkeypatch):
    monkeypatch.setenv("GANVIZ_CACHE_DIR", str(tmp_path))
    mnist_cache_dir().mkdir(parents=True)
    (mnist_cache_dir() / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"junk"))
    assert len(load_dataset(None)) == 5000


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GANVIZ_CACHE_DIR", str(tmp_path / "g"))
    assert cache_dir() == tmp_path / "g"
    monkeypatch.delenv("GANVIZ_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "ganviz"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "ganviz"


# --- robustness (shared/qa/robustness-cases.md 21-23) ------------------------------------------
def idx_header(shape, type_byte=0x08) -> bytes:
    return bytes([0, 0, type_byte, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes()


@pytest.mark.parametrize("gz", [True, False])
def test_header_whose_size_overflows_int64_is_refused(tmp_path, gz):
    """Case 21: 4194304 × 2097152 × 2097152 wraps int64 to 0, so the truncation check passed."""
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    data = idx_header((4194304, 2097152, 2097152)) + bytes(100)
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DatasetError, match=r"declares shape \(4194304, 2097152, 2097152\).*more than the 1 GiB"):
        load_idx_dir(tmp_path)


def test_header_declaring_more_than_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(idx_header((2_000_000, 28, 28)))
        f.write(bytes(1 << 20))
    with pytest.raises(DatasetError, match="1,568,000,000 bytes of data, more than the 1 GiB"):
        load_idx_dir(tmp_path)


def test_gzip_bomb_is_refused_without_expanding_it(tmp_path):
    """Case 23: a small .gz that expands far beyond what its header declares (here 128 MB behind
    a header of 10 images) is decompressed no further than the header's size (plus a 1 MiB look
    for the gzip trailer), and refused."""
    import tracemalloc

    path = tmp_path / "train-images-idx3-ubyte.gz"
    zeros = bytes(1 << 22)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(idx_header((10, 28, 28)))
        for _ in range(32):
            f.write(zeros)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="expands to more than the 7,840 bytes of data its header declares"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_trailing_bytes_after_gzip_data_within_the_tail_are_fine(tmp_path):
    images, _ = fake_digits(3)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header(images.shape) + images.tobytes() + bytes(10)))
    np.testing.assert_array_equal(read_idx(path), images)


def test_unreadable_folder_is_a_dataset_error(tmp_path, monkeypatch):
    """Case 22: PermissionError listing the folder (simulated: the tests may run as root)."""
    import pathlib

    write_split(tmp_path / "data", *fake_digits(3))

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "iterdir", denied)
    with pytest.raises(DatasetError, match=r"cannot read folder .*data: Permission denied"):
        load_idx_dir(tmp_path / "data")


def test_unreadable_file_is_a_dataset_error(tmp_path, monkeypatch):
    import builtins

    write_split(tmp_path, *fake_digits(3))
    real_open = builtins.open

    def denied(file, mode="r", *args, **kw):
        if str(file).endswith("ubyte.gz"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kw)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(DatasetError, match="cannot read .*: Permission denied"):
        load_idx_dir(tmp_path)
