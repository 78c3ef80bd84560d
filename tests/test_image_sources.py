"""The image mode's data beyond IDX: folders of image files (ImageFolder layout) and .npy/.npz arrays,
read by the one loader `load_images`, and trained on with every metric on the right images."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.mnist import classifier as clf
from ganviz.core.mnist import data
from ganviz.core.mnist.data import DatasetError, LoadCancelled, load_images, to_side
from ganviz.core.mnist.idx import write_idx
from ganviz.core.mnist.task import MnistTask
from ganviz.core.trainer import Trainer

CPU = torch.device("cpu")
COLOURS = {"iris": (80, 60, 200), "rose": (200, 30, 40), "tulip": (240, 200, 20)}


@pytest.fixture(autouse=True)
def _fresh_cache():
    data.forget_cached()
    yield
    data.forget_cached()


def save_image(path, size=(40, 30), colour=(255, 255, 255), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def flower_folder(root, per_class=4):
    """Three class subfolders of coloured images of several sizes and formats, and a stray text file."""
    for name, colour in COLOURS.items():
        for i in range(per_class):
            save_image(root / name / f"{i}.{('png', 'jpg', 'bmp')[i % 3]}", (30 + 11 * (i % 5), 50 - 3 * (i % 5)), colour)
    (root / "README.txt").write_text("not an image")
    return root


def small_cfg(**kw):
    return TrainConfig.for_mode("mnist", **{"hidden": 16, "batch": 32, **kw})


# --- folders --------------------------------------------------------------------------------------
def test_class_subfolders_give_labels_and_every_image_becomes_28x28_grey(tmp_path):
    ds = load_images(flower_folder(tmp_path / "flowers"))
    assert ds.images.shape == (12, 28, 28) and ds.images.dtype == np.uint8
    assert ds.classes == ("iris", "rose", "tulip")
    np.testing.assert_array_equal(ds.labels, np.repeat([0, 1, 2], 4))
    # grey = Pillow's luma of the colour (JPEG may move it by a few levels)
    r, g, b = COLOURS["tulip"]
    assert abs(int(ds.images[8, 14, 14]) - round(0.299 * r + 0.587 * g + 0.114 * b)) <= 3
    assert ds.describe().startswith("image folder")
    assert "12 images, 3 classes" in ds.describe() and "1 file that is not an image ignored" in ds.describe()


def test_longer_side_is_fitted_and_the_shorter_padded_with_black(tmp_path):
    wide = to_side(Image.new("RGB", (280, 70), (255, 255, 255)))   # 4:1 → 28 × 7, centred
    assert wide.shape == (28, 28)
    rows = np.flatnonzero(wide.max(axis=1) > 0)
    assert (rows[0], rows[-1]) == (10, 16) and wide[10:17].min() == 255
    tall = to_side(Image.new("L", (7, 14), 255))                 # upscaled: 14 × 28
    assert np.flatnonzero(tall.max(axis=0) > 0).tolist() == list(range(7, 21))
    transparent = to_side(Image.new("RGBA", (28, 28), (255, 255, 255, 0)))  # transparency onto black
    assert transparent.max() == 0
    sixteen = to_side(Image.fromarray(np.full((28, 28), 65535, np.uint16)))   # 16-bit grey scaled, not clipped
    assert sixteen.min() == 255


def test_flat_folder_is_unlabelled_and_damaged_files_are_skipped_and_counted(tmp_path):
    for i in range(3):
        save_image(tmp_path / f"{i}.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "notes.csv").write_text("a,b\n")
    ds = load_images(tmp_path)
    assert len(ds) == 3 and ds.labels is None and ds.classes is None
    assert "1 unreadable image file skipped, e.g. broken.png" in ds.describe()
    assert "1 file that is not an image ignored" in ds.describe()


def test_a_single_image_file_is_a_set_of_one(tmp_path):
    ds = load_images(save_image(tmp_path / "one.webp", (50, 50), (0, 0, 0)))
    assert ds.images.shape == (1, 28, 28) and ds.images.max() == 0


@pytest.mark.parametrize("content, match", [
    ({}, "no image files .* and no IDX files"),
    ({"a.txt": b"x", "b.doc": b"y"}, r"\(2 other files ignored\)"),
    ({"a.png": b"junk", "b.jpg": b"junk"}, "none of the 2 image files .* could be read"),
])
def test_folders_without_usable_images_are_refused(tmp_path, content, match):
    for name, body in content.items():
        (tmp_path / name).write_bytes(body)
    with pytest.raises(DatasetError, match=match):
        load_images(tmp_path)


def test_more_files_than_memory_allows_are_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_IMAGES", 3)
    for i in range(4):
        save_image(tmp_path / "a" / f"{i}.png")
    decoded = []
    monkeypatch.setattr(data, "to_side", lambda im: decoded.append(1))
    with pytest.raises(DatasetError, match="more than 3 image files"):
        load_images(tmp_path)
    assert decoded == []


def test_unreadable_folder_is_a_dataset_error(tmp_path, monkeypatch):
    """Case 22 for folders of images: a PermissionError while listing is a message."""
    import os

    save_image(tmp_path / "c" / "0.png")

    def denied(top, *a, onerror=None, **kw):
        onerror(PermissionError(13, "Permission denied", str(top)))
        yield from ()

    monkeypatch.setattr(os, "walk", denied)
    with pytest.raises(DatasetError, match=r"cannot read folder .*c: Permission denied"):
        load_images(tmp_path)


def test_load_reports_progress_and_can_be_cancelled(tmp_path):
    flower_folder(tmp_path)
    seen = []
    load_images(tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12) and len(seen) == 12
    data.forget_cached()
    cancel = threading.Event()

    def stop_at_five(done, total):
        if done == 5:
            cancel.set()

    with pytest.raises(LoadCancelled, match="after 5 of 12"):
        load_images(tmp_path, progress=stop_at_five, cancel=cancel)


def test_the_last_set_is_remembered_until_a_file_changes(tmp_path):
    flower_folder(tmp_path)
    first = load_images(tmp_path)
    assert load_images(tmp_path) is first
    save_image(tmp_path / "rose" / "new.png")
    second = load_images(tmp_path)
    assert second is not first and len(second) == 13


# --- arrays ---------------------------------------------------------------------------------------
def test_npy_uint8_at_28_is_taken_as_is(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "x.npy", images)
    ds = load_images(tmp_path / "x.npy")
    np.testing.assert_array_equal(ds.images, images)
    assert ds.labels is None and ds.describe().startswith("array") and "5 images, no labels" in ds.describe()


def test_float_arrays_of_any_size_are_resized_and_colour_made_grey(tmp_path):
    np.save(tmp_path / "f.npy", np.full((3, 56, 112), 0.5, np.float32))
    ds = load_images(tmp_path / "f.npy")
    assert ds.images.shape == (3, 28, 28)
    assert ds.images[:, 14, 14].tolist() == [128] * 3 and ds.images[:, 0, 0].tolist() == [0] * 3  # padded rows
    rgb = np.zeros((2, 28, 28, 3), np.uint8)
    rgb[..., 1] = 200
    np.save(tmp_path / "rgb.npy", rgb)
    assert load_images(tmp_path / "rgb.npy").images.max() == round(0.587 * 200)


def test_npz_with_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
             labels=np.array([0, 1, 2, 0, 1, 2]))
    ds = load_images(tmp_path / "d.npz")
    assert ds.labels.tolist() == [0, 1, 2, 0, 1, 2] and ds.n_classes == 3
    np.savez(tmp_path / "keras.npz", x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.array([3, 4]))
    assert load_images(tmp_path / "keras.npz").labels.tolist() == [3, 4]


@pytest.mark.parametrize("array, match", [
    (np.full((2, 28, 28), 255.0), r"float pixels must be in \[0, 1\] \(found 255 to 255\); divide by 255"),
    (np.full((2, 28, 28), np.nan, np.float32), "NaN or infinite"),
    (np.full((2, 28, 28), 300, np.int32), "integer pixels must be 0–255"),
    (np.zeros((28, 28), np.uint8), r"shape \(28, 28\); images must be \(N, H, W\)"),
    (np.zeros((2, 28, 28, 2), np.uint8), "C = 1, 3 or 4"),
    (np.zeros((0, 28, 28), np.uint8), "holds no images"),
    (np.zeros((2, 28, 28), np.complex64), "pixels must be integers 0–255 or floats 0–1"),
    (np.array([None, 1], dtype=object), "Python objects.*never unpickles"),
])
def test_bad_arrays_are_refused_with_the_reason(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array, allow_pickle=True)
    with pytest.raises(DatasetError, match=match):
        load_images(tmp_path / "bad.npy")


def test_bad_npz_contents_are_refused(tmp_path):
    np.savez(tmp_path / "k.npz", foo=np.zeros((2, 28, 28), np.uint8), bar=np.zeros(2))
    with pytest.raises(DatasetError, match="holds arrays bar, foo; the images must be under one of images"):
        load_images(tmp_path / "k.npz")
    np.savez(tmp_path / "l.npz", images=np.zeros((3, 28, 28), np.uint8), labels=np.array([0, 1]))
    with pytest.raises(DatasetError, match=r"labels have shape \(2,\); one per image means \(3,\)"):
        load_images(tmp_path / "l.npz")
    (tmp_path / "z.npz").write_bytes(b"PK not a zip")
    with pytest.raises(DatasetError, match="not a valid .npz"):
        load_images(tmp_path / "z.npz")


def test_array_header_larger_than_memory_allows_is_refused_before_reading(tmp_path):
    """Like case 18 for images: a tiny file whose header declares 10^11 images."""
    from numpy.lib import format as npy

    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        npy.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (10**11, 28, 28)})
        f.write(bytes(100))
    assert path.stat().st_size < 300
    with pytest.raises(DatasetError, match="more than the 1 GiB"):
        load_images(path)
    with open(tmp_path / "short.npy", "wb") as f:
        npy.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (5, 28, 28)})
        f.write(bytes(100))
    with pytest.raises(DatasetError, match="truncated"):
        load_images(tmp_path / "short.npy")


def test_other_files_are_refused(tmp_path):
    (tmp_path / "points.csv").write_text("1,2\n")
    with pytest.raises(DatasetError, match="neither a folder"):
        load_images(tmp_path / "points.csv")
    with pytest.raises(DatasetError, match="does not exist"):
        load_images(tmp_path / "nowhere")


def test_idx_folders_still_load_through_the_same_loader(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    ds = load_images(tmp_path)
    assert len(ds) == 3 and ds.describe().startswith("IDX from")
    assert len(load_images(tmp_path / "train-images-idx3-ubyte.gz")) == 3


# --- training on them: small sets and honest metrics (qa case 30 for the new sources) -------------
@pytest.mark.parametrize("n", [1, 5])
def test_tiny_sets_of_image_files_train_and_measure_d_on_their_own_images(tmp_path, n):
    for i in range(n):
        save_image(tmp_path / f"{i}.png", (20 + i, 30), (40 * i, 100, 200))
    cfg = small_cfg(data_dir=str(tmp_path))
    task = MnistTask(cfg, CPU)
    assert task.n_images == n and len(task.x_real_eval) == n
    trainer = Trainer(cfg, task=task)
    trainer.step(2)
    ev = trainer.evaluate(views=True)
    with torch.no_grad():
        real = clf.to_unit(torch.as_tensor(task.dataset.images))
        trainer.D.eval()  # as measured: spectral normalisation's power iteration does not advance
        d_real = float(torch.sigmoid(trainer.D(real)).mean())
    assert ev.metrics["d_real"] == pytest.approx(d_real, abs=1e-6)
    assert math.isfinite(ev.metrics["v"]) and math.isnan(ev.metrics["score"]) and math.isnan(ev.metrics["fd"])
    assert "no labels" in ev.picture.status
    assert task.close()


@pytest.fixture
def digit_classifier(tmp_path, monkeypatch):
    """A private cache with a briefly trained classifier of the bundled digits (what FD of foreign images uses)."""
    monkeypatch.setenv("GANVIZ_CACHE_DIR", str(tmp_path / "cache"))
    clf.load_or_train(data.load_bundled(), CPU, steps=30)


def test_labels_the_classifier_cannot_use_are_said_so(tmp_path):
    np.savez(tmp_path / "one.npz", images=np.zeros((120, 28, 28), np.uint8), labels=np.zeros(120, np.int64))
    task = MnistTask(small_cfg(data_dir=str(tmp_path / "one.npz")), CPU, classifier=False)
    assert "2 to 10 classes" in task.classifier_note and "this set has 1 (labels up to 0)" in task.classifier_note
    np.savez(tmp_path / "many.npz", images=np.zeros((120, 28, 28), np.uint8), labels=np.arange(120) % 12)
    task = MnistTask(small_cfg(data_dir=str(tmp_path / "many.npz")), CPU, classifier=False)
    assert "has 12 (labels up to 11)" in task.classifier_note and "not available" in task.classifier_note


def test_foreign_unlabelled_images_get_fd_against_their_own_features_and_no_score(tmp_path, digit_classifier):
    rng = np.random.default_rng(0)
    for i in range(120):
        save_image(tmp_path / "photos" / f"{i}.png", (30 + i % 9, 24), tuple(int(v) for v in rng.integers(0, 256, 3)))
    cfg = small_cfg(data_dir=str(tmp_path / "photos"))
    task = MnistTask(cfg, CPU)
    assert task.wait_classifier(60) and task.classifier is not None, task.classifier_note
    assert task._preparation.real is task.dataset and task._preparation.dataset is not task.dataset
    assert task.classifier_note.startswith("no labels: score hidden; FD in an MNIST digit classifier's features")
    trainer = Trainer(cfg, task=task)
    ev = trainer.evaluate(views=False)
    assert math.isnan(ev.metrics["score"]) and math.isfinite(ev.metrics["fd"]) and ev.metrics["fd"] > 0
    # the real statistics are the set's own: its own images are at FD ≈ 0 from them, the digits far away
    real_stats = task._preparation.real_stats
    own = clf.probs_and_features(task.classifier, clf.to_unit(torch.as_tensor(task.dataset.images)))[1]
    digits = clf.probs_and_features(task.classifier, clf.to_unit(torch.as_tensor(data.load_bundled().images[:500])))[1]
    fd_own = clf.frechet_distance(*real_stats, *clf.gaussian_stats(own))
    fd_digits = clf.frechet_distance(*real_stats, *clf.gaussian_stats(digits))
    assert fd_own < 0.05 * fd_digits
    assert task.close()


def test_a_labelled_folder_of_two_to_ten_classes_gets_its_own_classifier(tmp_path, digit_classifier):
    flower_folder(tmp_path / "flowers", per_class=40)
    task = MnistTask(small_cfg(data_dir=str(tmp_path / "flowers")), CPU)
    assert task._preparation is not None and task._preparation.dataset is task.dataset and task._preparation.score
    assert task.close()


def test_a_bad_source_is_a_config_error_naming_data(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 3), np.uint8))
    with pytest.raises(ConfigError, match=r"--data: .*shape \(2, 3\)"):
        MnistTask(small_cfg(data_dir=str(tmp_path / "bad.npy")), CPU)


def test_ganviz_train_with_data_on_a_folder_of_images(tmp_path, capsys):
    from ganviz.cli import main

    flower_folder(tmp_path / "flowers", per_class=2)
    out = tmp_path / "run"
    assert main(["train", "--mode", "mnist", "--data", str(tmp_path / "flowers"), "--steps", "4", "--log-every", "2",
                 "--hidden", "8", "--batch", "4", "--device", "cpu", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "P_data: image folder" in err and "6 images, 3 classes" in err and "1 file that is not an image" in err
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("step,")  # steps 0, 2, 4
    assert '"data_dir": "' + str(tmp_path / "flowers") in (out / "config.json").read_text()
    data.forget_cached()
    assert main(["train", "--mode", "mnist", "--data", str(tmp_path / "nothing.npy"), "--steps", "4",
                 "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganviz: error: --data: ") and "does not exist" in err and len(err.splitlines()) == 1



def test_arrays_are_fitted_like_image_files(tmp_path):
    """The array path resizes all images at once (torch); it agrees with the per-file path (Pillow)."""
    rng = np.random.default_rng(3)
    smooth = np.kron(rng.integers(0, 256, (4, 9, 6)), np.ones((1, 10, 10))).astype(np.uint8)  # (4, 90, 60) blocks
    np.save(tmp_path / "s.npy", smooth)
    batch = load_images(tmp_path / "s.npy").images
    one_by_one = np.stack([to_side(Image.fromarray(im)) for im in smooth])
    assert batch.shape == (4, 28, 28)
    np.testing.assert_array_equal(batch[:, :, :4], 0)  # 90×60 → 28×19: columns 0-3 and 23-27 padded
    assert np.abs(batch.astype(int) - one_by_one.astype(int)).mean() < 6


def test_listing_a_deep_tree_can_be_cancelled(tmp_path):
    for i in range(5):
        save_image(tmp_path / "a" / "b" / f"c{i}" / "0.png")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(LoadCancelled, match="while listing"):
        load_images(tmp_path, cancel=cancel)
