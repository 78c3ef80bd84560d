"""A small digit classifier trained on P_data, and the two scores it gives P_G: classifier score and Fréchet distance.

Classifier score (the Inception score of Salimans et al. 2016 with an MNIST classifier):
exp(E_x KL(p(y|x) ‖ p(y))), 1 at worst, the number of classes (10) at best.
Fréchet distance (Heusel et al. 2017) between Gaussians fitted to the classifier's penultimate
features of real and generated images: |μ_r − μ_g|² + tr(Σ_r + Σ_g − 2 (Σ_r^½ Σ_g Σ_r^½)^½).
"""

from __future__ import annotations

import atexit
import math
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganviz.core.mnist.data import ImageDataset, cache_dir
from ganviz.core.models import seeded_build

CLASSES = 10
FEATURES = 64
CLASSIFIER_VERSION = 1  # bump when the architecture or training changes: old cache files are ignored
TRAIN_STEPS = 500
TRAIN_BATCH = 128
HOLDOUT_FRACTION = 0.1
MIN_LABELLED = 100      # fewer labelled images cannot train a classifier whose scores mean anything
MIN_FD_IMAGES = 100     # below this, the real images' 64-dim feature covariance is too poorly estimated for FD
REAL_FEATURE_SAMPLES = 2000  # real images the real data's score and feature statistics are taken on
STOP_TIMEOUT = 2.0      # seconds `Preparation.stop` waits for the thread (it stops between two batches)
EXIT_TIMEOUT = 10.0     # seconds the exit hook waits: a thread left inside torch at exit aborts the process


class ClassifierCancelled(Exception):
    """The preparation was asked to stop before it finished; nothing was cached."""


class DigitClassifier(nn.Module):
    """Two conv blocks and a 64-unit feature layer; `features(x)` is the embedding the Fréchet distance uses."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),   # 28 → 14
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 14 → 7
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, FEATURES), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(FEATURES, CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or (N, 1, 28, 28) → float in [-1, 1], the range G produces."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    return images.float() * (2.0 / 255.0) - 1.0


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random translations of up to 2 pixels: cheap augmentation that buys ~1% held-out accuracy on 5k images."""
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dy, dx = torch.randint(0, 5, (2,), generator=gen, device=x.device).tolist()
    return padded[:, :, dy:dy + 28, dx:dx + 28]


def split_holdout(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed permutation split: (train indices, held-out indices)."""
    order = np.random.default_rng(seed).permutation(n)
    held = max(1, int(n * HOLDOUT_FRACTION))
    return order[held:], order[:held]


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        correct += int((model(to_unit(images[i:i + batch])).argmax(1) == labels[i:i + batch]).sum())
    return correct / max(1, len(images))


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ClassifierCancelled("classifier: stopped before it was ready")


def train_classifier(dataset: ImageDataset, device: torch.device | str = "cpu", steps: int = TRAIN_STEPS,
                     seed: int = 0, cancel: threading.Event | None = None) -> tuple[DigitClassifier, float]:
    """Train on 90% of the labelled data for `steps` Adam steps; return (model in eval mode, held-out accuracy).

    Setting `cancel` stops it between two batches with ClassifierCancelled."""
    if dataset.labels is None:
        raise ValueError("the classifier needs labels")
    if len(dataset) < MIN_LABELLED:
        raise ValueError(f"the classifier needs at least {MIN_LABELLED} labelled images (this set has {len(dataset)})")
    device = torch.device(device)
    images = torch.as_tensor(dataset.images, device=device)
    labels = torch.as_tensor(dataset.labels, dtype=torch.long, device=device)
    train_idx, held_idx = (torch.as_tensor(i, device=device) for i in split_holdout(len(images), seed))
    gen = torch.Generator(device=device).manual_seed(seed)
    with seeded_build(seed):
        model = DigitClassifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    model.train()
    for _ in range(steps):
        _check(cancel)
        pick = train_idx[torch.randint(len(train_idx), (TRAIN_BATCH,), generator=gen, device=device)]
        x = _shift(to_unit(images[pick]), gen)
        loss = F.cross_entropy(model(x), labels[pick])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    _check(cancel)
    return model, accuracy(model, images[held_idx], labels[held_idx])


def classifier_path(dataset: ImageDataset) -> Path:
    return cache_dir() / "classifiers" / f"digits-v{CLASSIFIER_VERSION}-{dataset.content_hash()}.pt"


def load_or_train(dataset: ImageDataset, device: torch.device | str = "cpu", steps: int = TRAIN_STEPS,
                  cancel: threading.Event | None = None) -> tuple[DigitClassifier, float, str]:
    """The classifier of this dataset from the cache, or trained now and cached (the cache is optional:
    an unwritable cache dir only costs a retrain next time). Returns (model, held-out accuracy, note).

    Setting `cancel` stops the training between two batches with ClassifierCancelled; a cancelled
    classifier is never cached. The cache file is written under a temporary name and renamed, so a
    full or read-only disk leaves the previous file or none, never half of one."""
    device = torch.device(device)
    path = classifier_path(dataset)
    if path.is_file():
        try:
            saved = torch.load(path, map_location=device, weights_only=True)
            with seeded_build(None):  # its random initial weights are replaced, but drawn all the same
                model = DigitClassifier().to(device)
            model.load_state_dict(saved["state_dict"])
            model.eval()
            return model, float(saved["accuracy"]), f"classifier loaded from cache ({float(saved['accuracy']):.1%} held-out)"
        except Exception:  # a stale or damaged cache file: train again
            pass
    start = time.perf_counter()
    model, acc = train_classifier(dataset, device, steps, cancel=cancel)
    note = f"classifier trained in {time.perf_counter() - start:.0f} s ({acc:.1%} held-out accuracy)"
    problem = _save_atomically({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "accuracy": acc},
                               path)
    if problem:
        note += f"; not cached in {path.parent} ({problem})"
    return model, acc, note


def _save_atomically(obj, path: Path) -> str | None:
    """torch.save `obj` to `path` through a temporary file in the same folder; the reason it could
    not be saved, or None. torch.save reports a full or read-only disk as RuntimeError (its C++
    writer), not only OSError; either way the temporary file is removed."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        torch.save(obj, tmp)
        os.replace(tmp, path)
        tmp = None
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    except RuntimeError:  # its messages name C++ source lines, not the cause
        return "the file could not be written: is the disk full or read-only?"
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


@torch.no_grad()
def probs_and_features(model: DigitClassifier, x: torch.Tensor, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """p(y|x) (N, 10) and penultimate features (N, 64) as float64 numpy, for images in [-1, 1]."""
    probs, feats = [], []
    for i in range(0, len(x), batch):
        f = model.features(x[i:i + batch])
        probs.append(torch.softmax(model.head(f), 1).double().cpu().numpy())
        feats.append(f.double().cpu().numpy())
    return np.concatenate(probs), np.concatenate(feats)


def classifier_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))) with p(y) the mean of p(y|x) over the sample."""
    p = np.clip(probs, 1e-12, 1.0)
    p_y = p.mean(0, keepdims=True)
    return float(math.exp(np.mean(np.sum(p * (np.log(p) - np.log(p_y)), axis=1))))


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition (tiny negative
    eigenvalues from round-off are clipped to 0, where a general sqrtm would turn complex)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """|μ1 − μ2|² + tr S1 + tr S2 − 2 tr (S1^½ S2 S1^½)^½; the last trace is the sum of the square
    roots of the eigenvalues of the symmetric PSD matrix S1^½ S2 S1^½."""
    r1 = sqrtm_psd(s1)
    middle = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    cross = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * cross, 0.0))


class Preparation:
    """The metric classifier of one dataset, loaded or trained on a background thread, and the real
    data's score and feature statistics under it (what score and FD compare P_G with).

    Owned and cancellable: `stop()` asks the thread to stop (checked between two training batches)
    and joins it, and a cancelled preparation caches nothing. The thread is a daemon, so a load stuck
    in the file system cannot keep the process alive, but it is never left running into interpreter
    shutdown, where a thread still inside torch aborts the process ("terminate called without an
    active exception"): an atexit hook stops every preparation still alive. Starting one first waits
    for any that were stopped but have not finished, so at most one works at a time however often
    the image mode is entered and left."""

    def __init__(self, dataset: ImageDataset, device: torch.device | str = "cpu", steps: int = TRAIN_STEPS,
                 real: ImageDataset | None = None, score: bool = True, prefix: str = ""):
        """The classifier of `dataset`'s labels; FD (and, with `score`, the score) compare P_G with
        `real` (default: `dataset` itself). `prefix` starts every note (what the metrics mean here)."""
        self.dataset, self.device, self.steps = dataset, torch.device(device), steps
        self.real, self.score, self.prefix = (real if real is not None else dataset), score, prefix
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.model: DigitClassifier | None = None  # set last: once it is set, everything below is too
        self.accuracy = math.nan
        self.real_score = math.nan
        self.real_stats: tuple[np.ndarray, np.ndarray] | None = None
        self.note = prefix + "classifier: training…"
        self.thread = threading.Thread(target=self._run, name="ganviz-classifier", daemon=True)
        with _LIVE_LOCK:
            stopping = [p for p in _LIVE if p.cancel.is_set()]
        for p in stopping:
            p.done.wait(STOP_TIMEOUT)
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.thread.start()

    def _run(self) -> None:
        try:
            model, acc, note = load_or_train(self.dataset, self.device, self.steps, cancel=self.cancel)
            _check(self.cancel)
            n = len(self.real)
            pick = torch.randperm(n, generator=torch.Generator().manual_seed(5))[:REAL_FEATURE_SAMPLES].numpy()
            real = to_unit(torch.as_tensor(self.real.images[pick])).to(self.device)
            probs, feats = probs_and_features(model, real)
            if self.score:
                self.real_score = classifier_score(probs)
            self.real_stats = gaussian_stats(feats)
            self.accuracy = acc
            self.note = self.prefix + (f"{note}; real data scores {self.real_score:.2f}" if self.score else note)
            self.model = model
        except ClassifierCancelled as exc:
            self.note = self.prefix + str(exc)
        except Exception as exc:  # metrics become NaN; training must go on
            self.note = f"{self.prefix}classifier failed: {exc}"
        finally:
            self.done.set()
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the classifier is ready (or known to be unavailable); True when done."""
        return self.done.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Ask the preparation to stop and wait for it, at most `timeout` s; True when it has ended.
        A classifier that was already ready stays usable. Safe to call any number of times.

        It waits on the `done` Event, set when the thread leaves torch, and joins the thread only
        after that: a Thread.join interrupted by Ctrl-C marks a running thread as stopped
        (CPython 3.11-3.12), after which no join would wait for it again."""
        self.cancel.set()
        if self.thread is threading.current_thread():
            return False
        if self.done.wait(timeout):
            self.thread.join(timeout)  # only a few lines of Python are left to run
        return self.done.is_set() and not self.thread.is_alive()

    @property
    def alive(self) -> bool:
        return not self.done.is_set() or self.thread.is_alive()


_LIVE: set[Preparation] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    """The safety net for preparations nobody stopped (a window closed mid-training, Ctrl-C while
    the CLI waits): cancel them all, then wait until each has left torch. A daemon thread still
    inside torch when the interpreter finalises aborts the process, so a further Ctrl-C does not
    cut this short (the wait is one training batch)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for p in live:
        p.cancel.set()
    deadline = time.monotonic() + EXIT_TIMEOUT
    for p in live:
        while True:
            try:
                p.done.wait(max(0.0, deadline - time.monotonic()))
                break
            except KeyboardInterrupt:
                continue
