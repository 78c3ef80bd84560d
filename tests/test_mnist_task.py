"""The image mode's Task: sampling P_data, training changes G's grid, and the classifier metrics."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from ganviz.core import losses
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.mnist import classifier as clf
from ganviz.core.mnist.data import load_bundled
from ganviz.core.mnist.idx import write_idx
from ganviz.core.mnist.task import GRID, CostBudget, MnistTask, tile, to_uint8
from ganviz.core.trainer import R1_EVERY, Trainer

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache holding a classifier trained briefly on the bundled subset (shared by this module)."""
    old = os.environ.get("GANVIZ_CACHE_DIR")
    os.environ["GANVIZ_CACHE_DIR"] = str(tmp_path_factory.mktemp("mnist-cache"))
    model, acc, note = clf.load_or_train(load_bundled(), CPU, steps=150)
    yield model, acc, note
    if old is None:
        os.environ.pop("GANVIZ_CACHE_DIR", None)
    else:
        os.environ["GANVIZ_CACHE_DIR"] = old


def small_cfg(**kw):
    return TrainConfig.for_mode("mnist", **{"hidden": 16, "batch": 32, **kw})


def test_sample_real_is_p_data_scaled(cache):
    task = MnistTask(small_cfg(), CPU, classifier=False)
    x = task.sample_real(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    y = task.sample_real(64, torch.Generator().manual_seed(0))
    assert torch.equal(x, y)  # the batch is drawn with the trainer's generator only
    as_uint8 = ((x + 1) * 127.5).round().to(torch.uint8).reshape(-1, 784)
    train = torch.as_tensor(task.dataset.images.reshape(-1, 784))
    assert all(bool((train == row).all(1).any()) for row in as_uint8[:4])  # real training images


def test_training_changes_fixed_noise_grid(cache):
    cfg = small_cfg()
    task = MnistTask(cfg, CPU, classifier=False)
    trainer = Trainer(cfg, task=task)
    before = task.grid_image(trainer.G)
    assert before.dtype == np.uint8 and before.shape == (GRID * 30 + 2, GRID * 30 + 2)
    assert np.array_equal(before, task.grid_image(trainer.G))  # fixed noise: same G, same grid
    ev = trainer.evaluate(views=True)
    np.testing.assert_array_equal(ev.picture.grid, before)
    trainer.step(3)
    after = task.grid_image(trainer.G)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0
    # Measuring must not move G: BatchNorm's running averages stay where training left them.
    state = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    trainer.evaluate(views=True)
    assert all(torch.equal(state[k], v) for k, v in trainer.G.state_dict().items())


def test_evaluate_metrics_and_views(cache):
    cfg = small_cfg()
    task = MnistTask(cfg, CPU)
    assert task.wait_classifier(60)
    trainer = Trainer(cfg, task=task)
    trainer.step(2)
    ev = trainer.evaluate(views=True)
    assert set(task.metric_names) <= set(ev.metrics)
    assert -2 * math.log(2) - 5 < ev.metrics["v"] < 0
    assert 0 < ev.metrics["d_real"] < 1 and 0 < ev.metrics["d_fake"] < 1
    assert 1 <= ev.metrics["score"] <= 10 and ev.metrics["fd"] > 0
    pic = ev.picture
    assert pic.real.pixels.shape == (8, 28, 28) and pic.fake.pixels.shape == (8, 28, 28)
    assert pic.real.pixels.dtype == np.uint8 and pic.real.scores.shape == (8,)
    assert ((pic.fake.scores > 0) & (pic.fake.scores < 1)).all()
    assert pic.grid_fresh.shape == pic.grid.shape and not np.array_equal(pic.grid_fresh, pic.grid)
    assert "classifier loaded from cache" in pic.status
    assert task.describe() == "MNIST (bundled 5,000-image subset), 5,000 images, labels"


def test_score_and_fd_follow_their_schedule(cache):
    cfg = small_cfg()
    task = MnistTask(cfg, CPU)
    assert task.wait_classifier(60)
    task.eval_budget.fraction = None  # V and D's means fresh on every call
    trainer = Trainer(cfg, task=task)
    first = trainer.evaluate(views=True).metrics
    task.score_budget.cost = 3600.0  # pretend the last measurement was very expensive
    trainer.step(1)
    running = trainer.evaluate(views=True).metrics
    assert (running["score"], running["fd"]) == (first["score"], first["fd"])  # not due: last values
    assert running["v"] != first["v"]  # the cheap metrics are always fresh
    paused = trainer.evaluate(views=True).metrics  # G unchanged since the last call: measured now
    assert paused["fd"] != first["fd"]


def test_metric_rows_are_measured_at_their_own_step(cache):
    """Case 10: the window's cost budget must not reach the rows the CLI asks for (views=False)."""
    cfg = small_cfg()
    task = MnistTask(cfg, CPU)
    assert task.wait_classifier(60)
    trainer = Trainer(cfg, task=task)
    rows = [trainer.evaluate(views=False).metrics]
    task.eval_budget.cost = task.score_budget.cost = 3600.0  # as if measuring were very expensive
    for _ in range(3):
        trainer.step(1)
        rows.append(trainer.evaluate(views=False).metrics)
    for name in ("v", "d_real", "d_fake", "score", "fd"):
        values = [row[name] for row in rows]
        assert len(set(values)) == len(values), (name, values)  # every row measured afresh


def test_cost_budget_schedule():
    budget = CostBudget(0.1)
    g1, g2, g3, other = (1, 0), (1, 5), (1, 6), (2, 0)  # (module id, weight versions)
    assert budget.due(g1, 0.0)  # nothing measured yet
    budget.record(g1, 0.0, 0.01)  # cost 10 ms: at most once per 100 ms while G trains
    assert not budget.due(g1, 0.02)  # the same weights: the measurement stands
    assert not budget.due(g2, 0.05)  # G trains, too soon
    assert budget.due(g3, 0.12)  # G trains, due
    budget.record(g3, 0.12, 0.13)
    assert not budget.due((1, 7), 0.15)
    assert budget.due((1, 7), 0.16)  # G stopped changing (paused): measure it now
    budget.record((1, 7), 0.16, 0.17)
    assert budget.due(other, 0.18)  # a new G (reset)


def test_window_rate_evaluations_are_throttled(cache):
    cfg = small_cfg()
    task = MnistTask(cfg, CPU, classifier=False)
    trainer = Trainer(cfg, task=task)
    first = trainer.evaluate(views=True)
    task.eval_budget.cost = 3600.0  # as if measuring were very expensive
    trainer.step(1)
    during = trainer.evaluate(views=True)  # while training: the last measurement, views included
    assert during.metrics["v"] == first.metrics["v"]
    np.testing.assert_array_equal(during.picture.grid, first.picture.grid)
    paused = trainer.evaluate(views=True)  # G did not change since: measured now
    assert paused.metrics["v"] != first.metrics["v"]
    np.testing.assert_array_equal(paused.picture.grid, task.grid_image(trainer.G))


def test_classifier_scores_real_high_noise_low(cache):
    model, acc, note = cache
    assert acc > 0.85, note
    ds = load_bundled()
    perm = np.random.default_rng(0).permutation(len(ds))
    real = clf.to_unit(torch.as_tensor(ds.images[perm[:1000]]))
    other = clf.to_unit(torch.as_tensor(ds.images[perm[1000:2000]]))
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    p_real, f_real = clf.probs_and_features(model, real)
    p_other, f_other = clf.probs_and_features(model, other)
    p_noise, f_noise = clf.probs_and_features(model, noise)
    assert clf.classifier_score(p_real) > 7
    assert clf.classifier_score(p_noise) < 2.5
    fd_real = clf.frechet_distance(*clf.gaussian_stats(f_real), *clf.gaussian_stats(f_other))
    fd_noise = clf.frechet_distance(*clf.gaussian_stats(f_real), *clf.gaussian_stats(f_noise))
    assert fd_real * 20 < fd_noise
    # One digit class only: a mode-collapsed P_G scores about 1 and sits far from P_data.
    ones = clf.to_unit(torch.as_tensor(ds.images[ds.labels == 1][:400]))
    p_ones, f_ones = clf.probs_and_features(model, ones)
    assert clf.classifier_score(p_ones) < 1.5
    assert clf.frechet_distance(*clf.gaussian_stats(f_real), *clf.gaussian_stats(f_ones)) > 5 * fd_real


def test_classifier_is_cached_per_dataset(cache):
    model, acc, note = clf.load_or_train(load_bundled(), CPU, steps=150)
    assert note.startswith("classifier loaded from cache") and acc == cache[1]
    assert clf.classifier_path(load_bundled()).is_file()


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert clf.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)
    # Rotated full covariances: FD is invariant to a common rotation; FD(P, P) = 0.
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert clf.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-7)
    assert clf.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-9)
    root = clf.sqrtm_psd(s1)
    np.testing.assert_allclose(root @ root, s1, atol=1e-10)


def test_classifier_score_bounds():
    assert clf.classifier_score(np.eye(10)[np.arange(100) % 10]) == pytest.approx(10, rel=1e-6)
    assert clf.classifier_score(np.full((50, 10), 0.1)) == pytest.approx(1)


def test_unlabelled_data_gives_nan_scores(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (40, 28, 28), dtype=np.uint8))
    cfg = small_cfg(data_dir=str(tmp_path))
    task = MnistTask(cfg, CPU)
    assert task.describe() == f"IDX from {tmp_path}, 40 images, no labels"
    ev = Trainer(cfg, task=task).evaluate(views=True)
    assert math.isnan(ev.metrics["score"]) and math.isnan(ev.metrics["fd"])
    assert math.isfinite(ev.metrics["v"])
    assert "no labels" in ev.picture.status


def test_bad_data_dir_and_dataset_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="--data: no image files.*no IDX files"):
        MnistTask(small_cfg(data_dir=str(tmp_path)), CPU)
    with pytest.raises(ConfigError, match="--dataset"):
        MnistTask(small_cfg(dataset="cifar"), CPU)


# --- robustness: the classifier thread, small sets, the cache (tests/../shared/qa cases 1-3, 16, 24, 25, 30) ----
def labelled_dir(tmp_path, n):
    rng = np.random.default_rng(1)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    return str(tmp_path)


def classifier_threads():
    import threading

    return [t for t in threading.enumerate() if t.name == "ganviz-classifier" and t.is_alive()]


EXIT_SCRIPT = """
import os, signal, sys, threading, time
import torch
from ganviz.core.config import TrainConfig
from ganviz.core.mnist.task import MnistTask
task = MnistTask(TrainConfig.for_mode("mnist", hidden=16, batch=32), torch.device("cpu"))
time.sleep(1.5)
assert not task.wait_classifier(0), "the classifier should still be training"
if sys.argv[1] == "exit":
    sys.exit(0)  # as when the window closes with nobody calling task.close()

def ctrl_c(times):
    time.sleep(0.3)
    for _ in range(times):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)

threading.Thread(target=ctrl_c, args=(int(sys.argv[1]),), daemon=True).start()
task.wait_classifier(60)  # as `ganviz train` waits for it
"""


@pytest.mark.parametrize("how", ["exit", "1", "2"], ids=["exit", "ctrl-c", "ctrl-c-twice"])
def test_exit_while_the_classifier_trains_does_not_abort(tmp_path, how):
    """Cases 1 and 2: the process ends while the classifier thread is inside torch: no abort (134).
    A second Ctrl-C interrupts the wait in close(): a Thread.join interrupted so marks the thread
    stopped (CPython 3.11), so waiting must not rely on join."""
    import signal
    import subprocess
    import sys

    env = {**os.environ, "GANVIZ_CACHE_DIR": str(tmp_path / "empty-cache")}
    proc = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, how], env=env, capture_output=True, text=True,
                          timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert "terminate called" not in proc.stderr
    if how == "exit":
        assert proc.returncode == 0, proc.stderr
    else:  # Python's exit status after a KeyboardInterrupt: -SIGINT, or 1 when a second one lands late
        assert proc.returncode in (-signal.SIGINT, 130, 1), proc.stderr
        last = proc.stderr.rstrip().splitlines()[-1] if proc.stderr.strip() else ""
        assert last.startswith("KeyboardInterrupt"), proc.stderr  # a plain interrupt, wherever it landed
    assert not list((tmp_path / "empty-cache").rglob("*.pt"))  # a stopped preparation caches nothing


def test_close_stops_the_classifier_and_mode_switches_never_pile_up_threads(tmp_path, monkeypatch):
    """Case 3: each entry into the image mode starts a preparation; close() stops it, within 2 s."""
    import time

    monkeypatch.setenv("GANVIZ_CACHE_DIR", str(tmp_path))  # empty: the classifier must train
    ds = load_bundled()
    for _ in range(4):
        task = MnistTask(small_cfg(), CPU, dataset=ds)
        time.sleep(0.2)
        assert len(classifier_threads()) <= 1
        start = time.perf_counter()
        assert task.close()
        assert time.perf_counter() - start < 2.0
        assert task.close()  # idempotent
        assert not classifier_threads()
        assert "stopped" in task.classifier_note
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.tmp"))  # nothing half-written
    # A task dropped without close() stops its preparation when it is collected.
    task = MnistTask(small_cfg(), CPU, dataset=ds)
    thread = classifier_threads()[0]
    del task
    thread.join(2.0)
    assert not thread.is_alive()


def test_batch_of_one_with_batchnorm_is_refused(tmp_path):
    """Case 16: BatchNorm cannot train on one image per batch; an MLP G (no BatchNorm) can."""
    with pytest.raises(ConfigError, match="--batch.*BatchNorm.*at least 2"):
        MnistTask(small_cfg(batch=1), CPU, classifier=False)
    cfg = small_cfg(batch=1, extra={"arch": "mlp"}, hidden=32)
    trainer = Trainer(cfg, task=MnistTask(cfg, CPU, classifier=False))
    trainer.step(2)
    assert math.isfinite(trainer.evaluate(views=False).metrics["v"])


@pytest.mark.parametrize("n", [1, 10])
def test_small_image_sets_measure_real_and_fake_apart(tmp_path, n):
    """Case 30: with fewer images than the 64 of the evaluation batch, d_real is D's mean over
    the real images only (never a mix of real and fake), and a tiny labelled set says why it has
    no score instead of 'classifier failed'."""
    cfg = small_cfg(data_dir=labelled_dir(tmp_path, n))
    task = MnistTask(cfg, CPU)
    trainer = Trainer(cfg, task=task)
    trainer.step(2)
    ev = trainer.evaluate(views=True)
    with torch.no_grad():
        real = clf.to_unit(torch.as_tensor(task.dataset.images))
        fake = task.generate(trainer.G, task.z_fixed)
        trainer.D.eval()  # as measured: spectral normalisation's power iteration does not advance
        d_real = float(torch.sigmoid(trainer.D(real)).mean())
        d_fake = float(torch.sigmoid(trainer.D(fake)).mean())
        trainer.D.train()
    assert ev.metrics["d_real"] == pytest.approx(d_real, abs=1e-6)
    assert ev.metrics["d_fake"] == pytest.approx(d_fake, abs=1e-6)
    assert ev.picture.real.pixels.shape == (8, 28, 28) and ev.picture.real.scores.shape == (8,)
    assert task.wait_classifier(0) and task.close()
    assert "failed" not in task.classifier_note and f"at least {clf.MIN_LABELLED} labelled" in task.classifier_note
    assert math.isnan(ev.metrics["score"])


@pytest.mark.parametrize("partial", [False, True], ids=["read-only", "disk-full"])
def test_unwritable_classifier_cache_is_a_notice(tmp_path, monkeypatch, partial):
    """Cases 24 and 25: torch.save raises RuntimeError (its C++ writer) on a read-only or full disk:
    the classifier is still used, the note says it was not cached, and no .tmp is left."""
    monkeypatch.setenv("GANVIZ_CACHE_DIR", str(tmp_path))

    def failing_save(obj, f, *args, **kw):
        if partial:
            with open(f, "wb") as out:
                out.write(b"PK\x03\x04 half a file")
            raise RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed "
                               "writing file data/0: file write failed")
        raise RuntimeError(f"File {f} cannot be opened.")

    monkeypatch.setattr(clf.torch, "save", failing_save)
    ds = load_bundled()
    model, acc, note = clf.load_or_train(ds, CPU, steps=3)
    assert isinstance(model, clf.DigitClassifier) and 0 <= acc <= 1
    assert "not cached" in note and "\n" not in note
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


# --- the models (--arch) and the moving average of G ----------------------------------------------


def test_the_average_of_g_follows_each_update_with_its_warm_up(tmp_path):
    """θ_avg ← β θ_avg + (1 − β) θ after every G update, β = min(0.999, (1 + t)/(10 + t)); the optimizer
    never sees the average."""
    from ganviz.core.mnist.models import AVERAGE_DECAY

    cfg = small_cfg()
    assert cfg.extra == {} and cfg.loss == "nonsaturating" and cfg.k_g == 2  # the default recipe
    cfg = cfg.replace(k_g=1)  # one G update per iteration, so that each one can be followed
    trainer = Trainer(cfg, task=MnistTask(cfg, CPU, classifier=False))
    G = trainer.G
    assert {id(p) for p in G.parameters()} == {id(p) for p in G.net.parameters()}
    assert {id(p) for group in trainer.opt_g.param_groups for p in group["params"]} == {id(p) for p in G.parameters()}
    expected = [b.clone() for b in G.average.buffers()]
    assert all(torch.equal(a, p) for a, p in zip(expected, G.net.parameters()))  # starts as G
    for t in range(3):
        trainer.step(1)
        beta = min(AVERAGE_DECAY, (1 + t) / (10 + t))
        expected = [beta * a + (1 - beta) * p.detach() for a, p in zip(expected, G.net.parameters())]
        for a, b in zip(expected, G.average.buffers()):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert float(G.average_updates) == 3 == trainer.g_updates
    trainer.cfg = trainer.cfg.replace(freeze_g=True)
    before = [b.clone() for b in G.average.buffers()]
    trainer.step(2)  # D alone: G and its average stay
    assert all(torch.equal(a, b) for a, b in zip(before, G.average.buffers()))


def test_the_grid_and_scores_show_the_average_and_v_the_trained_g(cache):
    cfg = small_cfg()
    task = MnistTask(cfg, CPU)
    assert task.wait_classifier(60)
    trainer = Trainer(cfg, task=task)
    trainer.step(20)
    G, D = trainer.G, trainer.D
    averaged = tile(to_uint8(task.generate(G.average, task.z_fixed)))
    trained = tile(to_uint8(task.generate(G.net, task.z_fixed)))
    assert not np.array_equal(averaged, trained)
    np.testing.assert_array_equal(task.grid_image(G), averaged)
    d_state = {k: v.clone() for k, v in D.state_dict().items() if torch.is_tensor(v)}
    draws = D.draws
    ev = trainer.evaluate(views=False)
    np.testing.assert_array_equal(trainer.evaluate(views=True).picture.grid, averaged)
    # Measuring leaves D alone, and D sees the images unshifted (no shift is drawn).
    assert all(torch.equal(d_state[k], v) for k, v in D.state_dict().items() if torch.is_tensor(v))
    # per iteration: the fused real+fake pass of D's update and one for each of G's k_G updates; and
    # the lazy R1 step's pass over real images every R1_EVERY D updates
    assert D.draws == draws == (1 + cfg.k_g) * 20 + math.ceil(20 / R1_EVERY)
    with torch.no_grad():
        D.eval()
        logits = D(torch.cat((task.x_real_eval, task.generate(G.net, task.z_fixed))))
        D.train()
    from ganviz.core import losses

    assert ev.metrics["v"] == pytest.approx(float(losses.value_fn(logits[:64], logits[64:])), rel=1e-5)
    probs, _ = clf.probs_and_features(task.classifier, task.generate(G.average, task.z_score))
    assert ev.metrics["score"] == pytest.approx(clf.classifier_score(probs), rel=1e-5)


def test_the_default_d_takes_a_lazy_r1_step_every_16_d_updates():
    """conv: after D update 1, 17, 33, … one more Adam step of D alone, on γ/2·E‖∇ₓD(x)‖²·R1_EVERY over real
    images; G is not touched by it. Other models take none."""
    cfg = small_cfg()
    trainer = Trainer(cfg, task=MnistTask(cfg, CPU, classifier=False))
    assert trainer.task.r1_gamma == 1.0
    g_before = [p.detach().clone() for p in trainer.G.parameters()]
    penalties = []
    real_penalty = losses.r1_penalty
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(losses, "r1_penalty", lambda *a, **k: penalties.append(real_penalty(*a, **k)) or penalties[-1])
        trainer.step_d()
        assert len(penalties) == 1 and penalties[0].detach().item() > 0
        d_steps = lambda opt: max(int(state["step"]) for state in opt.state.values())  # noqa: E731
        assert d_steps(trainer.opt_d) == 2  # the update and the R1 step
        assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))
        trainer.step(20)  # completes the open iteration, then 19 more (k = 1): D updates 2…20, R1 after the 17th
        assert trainer.d_updates == 20 and len(penalties) == 2 and d_steps(trainer.opt_d) == 20 + 2
    legacy = TrainConfig.for_mode("mnist", extra={"arch": "conv-legacy"}, hidden=8, batch=8, noise_dim=8)
    other = Trainer(legacy, task=MnistTask(legacy, CPU, classifier=False))
    other.step(17)
    assert other.task.r1_gamma == 0.0 and max(int(s["step"]) for s in other.opt_d.state.values()) == 17


def test_r1_penalty_of_a_linear_d_is_half_gamma_times_its_squared_weight_norm():
    """D(x) = ⟨w, x⟩ + b has ∇ₓD = w everywhere: the penalty is γ/2·‖w‖², and its gradient in w is γ·w."""
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 1))
    x = torch.rand(5, 1, 28, 28)
    penalty = losses.r1_penalty(D, x, 0.5)
    w = D[1].weight
    assert penalty.detach().item() == pytest.approx(0.25 * float(w.detach().square().sum()), rel=1e-6)
    penalty.backward()
    torch.testing.assert_close(w.grad, 0.5 * w.detach())


def test_the_default_d_sees_shifted_images_while_it_trains_and_measures_them_as_they_are():
    """DiffAugment's translation: every image D trains on is the original moved by at most SHIFT
    pixels each way, the border filled with the background; the seed of the run repeats the shifts;
    measuring (eval mode) sees the images unshifted and draws nothing."""
    from ganviz.core.mnist.models import BACKGROUND, SHIFT, build_discriminator
    from ganviz.core.models import seeded_build

    with seeded_build(0):
        D = build_discriminator("conv", 8, 2)
    with seeded_build(0):
        same = build_discriminator("conv", 8, 2)
    with seeded_build(1):
        other = build_discriminator("conv", 8, 2)
    x = torch.rand(32, 1, 28, 28) * 2 - 1
    shifted = D._shifted(x)
    padded = torch.nn.functional.pad(x, (SHIFT,) * 4, value=BACKGROUND)
    offsets = set()
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(2 * SHIFT + 1) for dx in range(2 * SHIFT + 1)
                 if torch.equal(padded[i, :, dy:dy + 28, dx:dx + 28], shifted[i])]
        assert found, f"image {i} is not a shift of its original"
        offsets.add(found[0])
    assert len(offsets) > 10  # each image its own shift
    assert torch.equal(same._shifted(x), shifted) and not torch.equal(other._shifted(x), shifted)
    assert not torch.equal(D._shifted(x), shifted)  # the next draw differs
    D.eval()
    draws = D.draws
    assert torch.equal(D(x), D.net(x)) and D.draws == draws
    D.train()
    assert not torch.equal(D(x), D.net(x)) and D.draws == draws + 1
    assert D.state_dict()["_extra_state"] == {"seed": D.seed, "draws": draws + 1}


@pytest.mark.parametrize("arch", ["conv", "mlp", "conv-legacy"])
def test_each_arch_trains_with_its_own_settings(arch):
    cfg = TrainConfig.for_mode("mnist", extra={"arch": arch}, batch=16)
    expected = {"conv": ("nonsaturating", 32), "mlp": ("nonsaturating", 256), "conv-legacy": ("nonsaturating", 32)}[arch]
    assert (cfg.loss, cfg.hidden) == expected
    trainer = Trainer(cfg, task=MnistTask(cfg, CPU, classifier=False))
    assert hasattr(trainer.G, "average") == (arch != "conv-legacy")
    assert trainer.task.r1_gamma == (1.0 if arch == "conv" else 0.0)
    trainer.step(2)
    ev = trainer.evaluate(views=True)
    assert math.isfinite(ev.metrics["v"]) and ev.picture.grid.shape == (GRID * 30 + 2, GRID * 30 + 2)
    # Picking a model later brings its settings, except those given.
    other = TrainConfig.for_mode("mnist").with_arch(arch, lr_g=3e-4)
    assert (other.loss, other.hidden, other.lr_g, other.extra) == (*expected, 3e-4, {"arch": arch})
    # "Restore defaults" and Copy command measure against the model's own defaults.
    assert other.defaults() == TrainConfig.for_mode("mnist", extra={"arch": arch}) != other


def test_arch_is_a_setting_of_the_image_mode_only(cache, tmp_path, capsys):
    from ganviz.cli import main
    from ganviz.core.command_line import train_command

    with pytest.raises(ConfigError, match="--arch: must be one of conv, mlp, conv-legacy"):
        TrainConfig.for_mode("mnist", extra={"arch": "resnet"})
    with pytest.raises(ConfigError, match="--arch: applies only to --mode mnist"):
        TrainConfig.for_mode("2d", extra={"arch": "mlp"})
    assert main(["train", "--mode", "1d", "--arch", "mlp", "--steps", "1", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--arch: applies only to --mode mnist" in err and "Traceback" not in err
    assert not (tmp_path / "a").exists()
    # Copy command repeats the model and only the settings that differ from that model's own.
    cfg = TrainConfig.for_mode("mnist", extra={"arch": "mlp"}, hidden=128, steps=20)
    line = train_command(cfg)
    assert "--arch mlp" in line and "--hidden 128" in line and "--loss" not in line and "--lr-d" not in line
    assert train_command(TrainConfig.for_mode("mnist")).count("--arch") == 0
    out = tmp_path / "run"
    assert main([*line.split()[1:-2], "--log-every", "10", "--out", str(out)]) == 0
    saved = TrainConfig.load(out / "config.json")
    assert saved == cfg.replace(log_every=10)
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["step", "0", "10", "20"]
