"""The image mode: P_data is an MNIST-like set of 28×28 digits; P_G is judged by a digit classifier."""

from __future__ import annotations

import dataclasses
import math
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ganviz.core import losses
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.frame import Images
from ganviz.core.mnist import classifier as clf
from ganviz.core.mnist.data import DatasetError, ImageDataset, load_bundled, load_dataset
from ganviz.core.mnist.models import ARCHS, R1_GAMMA, SIDE, build_discriminator, build_generator
from ganviz.core.task import Evaluation, Task

GRID = 8                # the sample grid is GRID × GRID images
PAD = 2                 # pixels between grid cells
PAD_LEVEL = 70          # grey of the grid lines, so black digit backgrounds stay apart
EVAL_BATCH = GRID * GRID  # real and generated images V(G, D), D(x), D(G(z)) are measured on (the grid's)
STRIP = 8               # real and generated images shown with D's score
SCORE_SAMPLES = 500     # generated images the classifier score and FD use
# The window evaluates up to 25×/s, faster than a CPU trains a conv net. So its evaluations (those
# with views) are redone only as often as keeps their cost below these fractions of wall time
# (returning the last values in between): V, D(x), D(G(z)) and the sample views, then the costlier
# classifier score and FD. An evaluation without views is a measurement someone asked for at that
# step (a row of the CLI's metrics.csv, Fit D*'s plateau check) and is always measured afresh, as
# is a paused G.
EVAL_BUDGET = 0.05
SCORE_BUDGET = 0.04


class CostBudget:
    """Says when to redo a measurement of G so that its cost stays below `fraction` of wall time.

    It is redone at once for a new G (after a reset) or for a G that did not change since the
    previous call (training paused: one measurement, then cached); while G trains, only when
    due. `key` identifies G's weights (module id and the parameters' in-place version counters)."""

    def __init__(self, fraction: float | None):
        self.fraction = fraction
        self.cost = 0.0
        self.last_end = -math.inf
        self.measured_key: tuple | None = None  # the weights the cached value belongs to
        self.seen_key: tuple | None = None      # the weights of the previous call

    def due(self, key: tuple, now: float) -> bool:
        if key == self.measured_key:
            return False
        stopped, self.seen_key = key == self.seen_key, key
        new_g = self.measured_key is None or self.measured_key[0] != key[0]
        return stopped or new_g or self.fraction is None or now - self.last_end >= self.cost / self.fraction

    def record(self, key: tuple, start: float, end: float) -> None:
        self.measured_key, self.cost, self.last_end = key, end - start, end


def weights_key(G: nn.Module) -> tuple:
    """Changes whenever G's weights change: the trainer's count of optimizer steps (a fused step
    leaves the tensors' `_version` alone) and `_version` (which counts other in-place updates)."""
    return (id(G), getattr(G, "optimizer_steps", None), *(p._version for p in G.parameters()))


@dataclass(frozen=True)
class PictureMnist:
    """What the image view draws: G on fixed noise (the grid that shows G move) and on fresh noise
    (the spread of P_G), a strip of real and generated images with D's verdict on each, and the
    state of the metric classifier."""

    grid: np.ndarray        # uint8 (H, W), GRID × GRID tiles
    grid_fresh: np.ndarray
    real: Images
    fake: Images
    status: str


class MnistTask(Task):
    """P_data is a set of 28×28 digits; G and D are a small DCGAN (or MLPs); score and FD judge P_G.

    The metric classifier is loaded or trained on a background thread (a `classifier.Preparation`)
    so the first frames do not wait for it. Whoever drops a task must call `close()`: it stops that
    preparation between two training batches and joins its thread within a bounded time, so leaving
    and re-entering the image mode never piles up classifier threads. A task dropped without it
    stops its preparation when it is garbage-collected, and an exit hook stops any still running,
    but only `close()` says when the thread is gone. The task stays usable after `close()`: with a
    classifier that was ready, score and FD go on; otherwise they stay NaN."""

    mode = "mnist"
    datasets = ("mnist",)
    metric_names = ("v", "d_real", "d_fake", "score", "fd")
    fused_d_forward = True  # D has no BatchNorm (only G does), so real and fake share one forward pass

    def __init__(self, cfg: TrainConfig, device: torch.device, dataset: ImageDataset | None = None,
                 classifier: bool = True):
        super().__init__(cfg, device)
        if cfg.dataset not in self.datasets:
            raise ConfigError("--dataset", f"unknown image dataset {cfg.dataset!r}; the image mode uses 'mnist' "
                                           "(--data-dir picks a folder of IDX files)")
        self.arch = cfg.extra.get("arch", ARCHS[0])  # --arch; TrainConfig.validate checked it
        self.r1_gamma = R1_GAMMA.get(self.arch, 0.0)
        if cfg.batch < 2 and self._generator_has_batchnorm():
            raise ConfigError("--batch", f"the {self.arch} generator uses BatchNorm, which needs at least 2 images "
                                         f"per batch (got {cfg.batch})")
        if dataset is None:
            try:
                dataset = load_dataset(cfg.data_dir)
            except DatasetError as exc:
                raise ConfigError("--data", str(exc)) from exc
        self.dataset = dataset
        self.images = self._to_device(torch.as_tensor(dataset.images).unsqueeze(1))  # uint8 (N, 1, 28, 28)
        self.n_images = len(dataset)

        # Fixed noise and real images, drawn on the CPU so the grid is the same on every device.
        # A set smaller than EVAL_BATCH is measured on all its images: E_x log D(x) exactly.
        cpu = torch.Generator().manual_seed(cfg.seed + 3)
        self.z_fixed = self._noise(EVAL_BATCH, cpu)  # the sample grid, also the fake half of V's estimate
        self.z_score = self._noise(SCORE_SAMPLES, cpu)
        self._fresh_gen = torch.Generator(device=device).manual_seed(cfg.seed + 4)  # drawn on the device
        real_idx = torch.randperm(self.n_images, generator=cpu)[:EVAL_BATCH]
        self.x_real_eval = clf.to_unit(self.images[real_idx.to(self.images.device)].to(device))
        self._strip_idx = torch.arange(STRIP, device=device) % len(self.x_real_eval)  # repeats in a tiny set
        self.real_strip = to_uint8(self.x_real_eval[self._strip_idx])

        self.score_budget = CostBudget(SCORE_BUDGET)
        self._score = {"score": math.nan, "fd": math.nan}
        self.eval_budget = CostBudget(EVAL_BUDGET)
        self._last: Evaluation | None = None
        self.eval_seconds = {"cheap": 0.0, "score": 0.0}  # time spent measuring, for the overhead figure
        self._preparation: clf.Preparation | None = None
        self._note = self._prepare_metrics(dataset, classifier, device)
        if self._preparation is not None:
            # A task dropped without close() still stops its preparation (the thread holds no reference to it).
            weakref.finalize(self, self._preparation.cancel.set)

    def _prepare_metrics(self, dataset: ImageDataset, classifier: bool, device: torch.device) -> str:
        """Start the metric classifier the data allows; the note that says what score and FD mean.

        With labels of 2-10 classes on at least MIN_LABELLED images: a classifier of the set's own
        labels gives score and FD. Otherwise, from MIN_FD_IMAGES images on, FD is measured in the
        features of the digit classifier of the bundled MNIST subset, against the set's own features
        (as FID uses ImageNet features for any images); the score is hidden, since the classes of an
        MNIST classifier mean nothing for other images."""
        if not dataset.has_labels:
            why = "no labels"
        elif len(dataset) < clf.MIN_LABELLED:
            why = (f"the classifier needs at least {clf.MIN_LABELLED} labelled images (this set has "
                   f"{len(dataset)})")
        elif dataset.n_classes > clf.CLASSES or len(np.unique(dataset.labels)) < 2:
            why = (f"the metric classifier tells 2 to {clf.CLASSES} classes (labels 0-{clf.CLASSES - 1}) apart; "
                   f"this set has {len(np.unique(dataset.labels))} (labels up to {int(dataset.labels.max())})")
        else:
            why = None
        if not classifier:
            return f"{why}: classifier score and FD are not available" if why else "classifier not requested"
        if why is None:
            self._preparation = clf.Preparation(dataset, device)
            return self._preparation.note
        if len(dataset) < clf.MIN_FD_IMAGES:
            return (f"{why}: classifier score and FD are not available (FD needs at least {clf.MIN_FD_IMAGES} "
                    f"images; this set has {len(dataset)})")
        try:
            digits = load_bundled()
        except DatasetError as exc:
            return f"{why}: classifier score and FD are not available ({exc})"
        self._preparation = clf.Preparation(
            digits, device, real=dataset, score=False,
            prefix=f"{why}: score hidden; FD in an MNIST digit classifier's features, against this set's own — ")
        return self._preparation.note

    def _generator_has_batchnorm(self) -> bool:
        """Built on the meta device: no memory, however wide --hidden is."""
        with torch.device("meta"):
            G = build_generator(self.arch, self.cfg.noise_dim, self.cfg.hidden, self.cfg.layers)
        return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in G.modules())

    def close(self, timeout: float = clf.STOP_TIMEOUT) -> bool:
        """Stop the classifier preparation and wait for its thread, at most `timeout` s (it stops between
        two training batches); True when no thread of this task is left. Idempotent."""
        return True if self._preparation is None else self._preparation.stop(timeout)

    # --- data -----------------------------------------------------------------------------------
    def _to_device(self, images: torch.Tensor) -> torch.Tensor:
        """The whole training set lives on the training device as uint8 (47 MB for full MNIST);
        if the device has no room it stays in host memory and batches are copied over."""
        try:
            return images.to(self.device)
        except RuntimeError:  # out of device memory
            return images.pin_memory() if self.device.type == "cuda" else images

    def _noise(self, m: int, gen: torch.Generator) -> torch.Tensor:
        """m noise vectors drawn with `gen` on its own device (the CPU for the fixed noise, made once),
        returned on the task's device."""
        z = torch.empty(m, self.cfg.noise_dim, device=gen.device)
        z = z.uniform_(-1.0, 1.0, generator=gen) if self.cfg.noise == "uniform" else z.normal_(generator=gen)
        return z.to(self.device)

    def describe(self) -> str:
        return self.dataset.describe()

    def build_generator(self) -> nn.Module:
        return build_generator(self.arch, self.cfg.noise_dim, self.cfg.hidden, self.cfg.layers)

    def build_discriminator(self) -> nn.Module:
        return build_discriminator(self.arch, self.cfg.hidden, self.cfg.layers)

    def sample_real(self, m: int, gen: torch.Generator) -> torch.Tensor:
        """x ~ P_data: m training images by uniform random index, scaled from 0..255 to [-1, 1]."""
        idx = torch.randint(self.n_images, (m,), generator=gen, device=self.device)
        if self.images.device != self.device:
            return clf.to_unit(self.images[idx.cpu()].to(self.device, non_blocking=True))
        return clf.to_unit(self.images[idx])

    # --- classifier -----------------------------------------------------------------------------
    @property
    def classifier(self) -> clf.DigitClassifier | None:
        return None if self._preparation is None else self._preparation.model

    @property
    def classifier_accuracy(self) -> float:
        return math.nan if self._preparation is None else self._preparation.accuracy

    @property
    def real_score(self) -> float:
        return math.nan if self._preparation is None else self._preparation.real_score

    @property
    def classifier_note(self) -> str:
        return self._note if self._preparation is None else self._preparation.note

    def wait_classifier(self, timeout: float | None = None) -> bool:
        """Block until the classifier is trained or loaded (or known to be unavailable); True when done.
        Ctrl-C while waiting stops the preparation before the KeyboardInterrupt goes on."""
        if self._preparation is None:
            return True
        try:
            return self._preparation.wait(timeout)
        except KeyboardInterrupt:
            self.close()
            raise

    # --- measuring ------------------------------------------------------------------------------
    @contextmanager
    def _frozen_batchnorm(self, G: nn.Module):
        """Generate with batch statistics, as in training, without moving G's running averages."""
        norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
                 for m in norms]
        for m in norms:
            m.momentum = 0.0  # running = (1 - 0)·running + 0·batch: unchanged
        try:
            yield
        finally:
            for m, (momentum, tracked) in zip(norms, saved):
                m.momentum = momentum
                if tracked is not None:
                    m.num_batches_tracked.copy_(tracked)

    @torch.no_grad()
    def generate(self, G: nn.Module, z: torch.Tensor) -> torch.Tensor:
        with self._frozen_batchnorm(G):
            return G(z)

    @torch.no_grad()
    def show(self, G: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """The images the mode shows and scores: from the moving average of G's weights where G keeps
        one (models.AveragedGenerator), else from G. V(G, D), D(x) and D(G(z)) stay measured on the
        G that D plays against."""
        return self.generate(getattr(G, "average", G), z)

    @staticmethod
    @contextmanager
    def _measuring(D: nn.Module):
        """D in eval mode while it is measured: it sees the images unshifted and draws no shift (and a
        spectrally normalised D would not advance its power iteration), so measuring, as often as the
        window's budget allows, never changes the run."""
        was_training = D.training
        D.eval()
        try:
            yield
        finally:
            D.train(was_training)

    @torch.no_grad()
    def evaluate(self, G, D, gen, views=True, loss=None):
        """With views (the window's frames), measured as EVAL_BUDGET and SCORE_BUDGET allow; without
        (a metrics row, a Fit D* check), always measured afresh at this step."""
        now, key = time.perf_counter(), weights_key(G) + weights_key(D)
        due = self.eval_budget.due(key, now) or not views
        last = self._last
        if not due and last is not None and (last.picture is not None or not views):
            result = Evaluation(dict(last.metrics), last.picture if views else None)
        else:
            result = self._measure(G, D, views)
            end = time.perf_counter()
            self.eval_budget.record(key, now, end)
            self.eval_seconds["cheap"] += end - now
            self._last = result
            result = Evaluation(dict(result.metrics), result.picture)
        if views and result.picture is not None:  # the classifier may have just become ready
            result.picture = dataclasses.replace(result.picture, status=self.classifier_note)
        if math.isfinite(result.metrics["v"]):
            result.metrics.update(self._classifier_metrics(G, force=not views))
        return result

    def _measure(self, G: nn.Module, D: nn.Module, views: bool) -> Evaluation:
        with self._measuring(D):
            return self._measure_d(G, D, views)

    def _measure_d(self, G: nn.Module, D: nn.Module, views: bool) -> Evaluation:
        fake = self.generate(G, self.z_fixed)
        if not bool(torch.isfinite(fake).all()):
            return Evaluation({"v": math.nan})
        real_logits, fake_logits = D(torch.cat((self.x_real_eval, fake))).split((len(self.x_real_eval), len(fake)))
        metrics = {
            "v": float(losses.value_fn(real_logits, fake_logits)),
            "d_real": float(torch.sigmoid(real_logits).mean()),
            "d_fake": float(torch.sigmoid(fake_logits).mean()),
        }
        if not views:
            return Evaluation(metrics)
        # G on fresh noise (a new z each time) shows the spread of P_G; the fixed grid shows G move.
        shown = fake if getattr(G, "average", None) is None else self.show(G, self.z_fixed)
        fresh = self.show(G, self._noise(GRID * GRID, self._fresh_gen))
        return Evaluation(metrics, PictureMnist(
            grid=tile(to_uint8(shown)),
            grid_fresh=tile(to_uint8(fresh)),
            real=Images(self.real_strip, torch.sigmoid(real_logits[self._strip_idx]).double().cpu().numpy()),
            fake=Images(to_uint8(fresh[:STRIP]), torch.sigmoid(D(fresh[:STRIP])).double().cpu().numpy()),
            status=self.classifier_note,
        ))

    def _classifier_metrics(self, G: nn.Module, force: bool = False) -> dict[str, float]:
        """Score and FD on SCORE_SAMPLES images of fixed noise, when `force`d or SCORE_BUDGET allows
        (else the last values)."""
        model = self.classifier  # read first: once it is set, so are the real statistics
        if model is None:
            return dict(self._score)
        now, key = time.perf_counter(), weights_key(G)
        if not (self.score_budget.due(key, now) or force):
            return dict(self._score)
        fake = self.show(G, self.z_score)
        probs, feats = clf.probs_and_features(model, fake)
        self._score = {"score": clf.classifier_score(probs) if self._preparation.score else math.nan,
                       "fd": clf.frechet_distance(*self._preparation.real_stats, *clf.gaussian_stats(feats))}
        end = time.perf_counter()
        self.score_budget.record(key, now, end)
        self.eval_seconds["score"] += end - now
        return dict(self._score)

    def grid_image(self, G: nn.Module) -> np.ndarray:
        """The fixed-noise sample grid as uint8 (H, W) grey levels, as drawn in the window."""
        return tile(to_uint8(self.show(G, self.z_fixed)[:GRID * GRID]))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1], shape (n, 1, 28, 28) → uint8 (n, 28, 28)."""
    return ((x.reshape(-1, SIDE, SIDE).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def tile(images: np.ndarray, columns: int = GRID) -> np.ndarray:
    """Images (n, h, w) → one (H, W) uint8 picture, `columns` per row, row-major, PAD-pixel grey gaps."""
    n, h, w = images.shape
    rows = math.ceil(n / columns)
    out = np.full((rows * (h + PAD) + PAD, columns * (w + PAD) + PAD), PAD_LEVEL, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        out[PAD + r * (h + PAD):PAD + r * (h + PAD) + h, PAD + c * (w + PAD):PAD + c * (w + PAD) + w] = images[i]
    return out
