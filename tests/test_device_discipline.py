"""The core's device rule: a task lives on its trainer's device, and the training step copies nothing
between host and device, makes no tensor without a device, and never waits on the device.

A TorchFunctionMode watches every torch call made inside `Trainer.step` and `BatchedGroup.step`:
host data turned into tensors (torch.tensor/as_tensor/from_numpy: a host→device copy on a GPU),
device moves (.to(device), .cpu(), .cuda()), host syncs (.item(), float(), bool(), .tolist(),
.numpy()) and factories called without a device (a CPU tensor that would meet CUDA modules) all fail
the test. It runs on the CPU, so the rule is checked on every machine; with CUDA present the same
tests also run there (the `device` fixture)."""

from __future__ import annotations

import pytest
import torch
from torch.overrides import TorchFunctionMode

from ganviz.core.config import TrainConfig
from ganviz.core.lanes import BatchedGroup
from ganviz.core.trainer import Trainer

HOST_DATA = {"tensor", "as_tensor", "from_numpy", "asarray"}
SYNCS = {"item", "__float__", "__int__", "__bool__", "tolist", "numpy", "cpu", "cuda"}
FACTORIES = {"zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "arange", "linspace",
             "eye", "normal", "scalar_tensor"}


class HotPathGuard(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.offences: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name in HOST_DATA or name in SYNCS:
            self.offences.append(name)
        elif name in FACTORIES and "device" not in kwargs and not any(isinstance(a, torch.Tensor) for a in args):
            self.offences.append(f"{name} without a device")
        elif name == "to" and args and isinstance(args[0], torch.Tensor):
            target = kwargs.get("device", next((a for a in args[1:] if isinstance(a, (str, torch.device))), None))
            if target is not None:
                self.offences.append(f".to({target})")
        return func(*args, **kwargs)


def guarded(fn, *args) -> list[str]:
    """What `fn(*args)` did against the rule (torch's own optimizer steps are not watched)."""
    guard = HotPathGuard()
    originals = {cls: cls.step for cls in (torch.optim.Adam, torch.optim.SGD)}

    def unwatched(orig):
        def step(self, *a, **kw):
            with torch.overrides._pop_mode_temporarily():
                return orig(self, *a, **kw)
        return step

    for cls, orig in originals.items():
        cls.step = unwatched(orig)
    try:
        with guard:
            fn(*args)
    finally:
        for cls, orig in originals.items():
            cls.step = orig
    return guard.offences


CASES = [("1d", {}), ("1d", {"dataset": "trimodal"}), ("1d", {"dataset": "heavytail"}),
         ("1d", {"loss": "wgan-gp"}), ("1d", {"loss": "wgan"}), ("1d", {"loss": "lsgan"}), ("1d", {"loss": "hinge"}),
         ("1d", {"noise": "uniform", "optimizer": "sgd"}), ("2d", {}), ("2d", {"loss": "wgan-gp"}),
         ("mnist", {"hidden": 16, "batch": 8}), ("mnist", {"hidden": 16, "batch": 8, "extra": {"arch": "mlp"}})]


@pytest.mark.parametrize("mode,changes", CASES, ids=[f"{m}-{'-'.join(map(str, c.values())) or 'default'}"
                                                      for m, c in CASES])
def test_the_training_step_stays_on_the_device(device, mode, changes):
    cfg = TrainConfig.for_mode(mode, device=device, k=2, **changes)
    t = Trainer(cfg)
    try:
        assert t.task.device == t.device and t.gen.device == t.device
        assert all(p.device == t.device for p in (*t.G.parameters(), *t.D.parameters()))
        t.step(1)  # warm-up: lazy state (optimizer moments, cached buffers) may be made once
        assert guarded(t.step, 3) == []
        ev = t.evaluate(views=True)  # evaluation on the same device: no CPU tensor meets a device module
        assert ev.metrics and ev.picture is not None
    finally:
        getattr(t.task, "close", lambda: None)()


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_the_average_of_g_is_updated_on_the_device(device, arch):
    """The image mode's average of G's weights is updated after each G step (an optimizer hook the
    guard above does not watch, so it is watched here)."""
    cfg = TrainConfig.for_mode("mnist", device=device, hidden=16, batch=8, extra={"arch": arch})
    t = Trainer(cfg)
    try:
        t.step(1)
        assert guarded(t.G.after_optimizer_step) == []
        assert all(b.device == t.device for b in t.G.average.buffers())
    finally:
        t.task.close()


@pytest.mark.parametrize("mode,changes", [("1d", {}), ("1d", {"loss": "wgan-gp"}), ("1d", {"loss": "wgan"}),
                                          ("2d", {})])
def test_the_batched_step_stays_on_the_device(device, mode, changes):
    cfg = TrainConfig.for_mode(mode, device=device, **changes)
    trainers = [Trainer(cfg.replace(seed=s, k=1 + s % 2)) for s in range(3)]
    for t in trainers[1:]:  # lanes share one task, as in a Session
        t.task = trainers[0].task
    group = BatchedGroup(trainers)
    group.step(1, [True] * 3)
    # Per chunk, the lanes' settings go to the device once (a few tensors); per iteration, nothing.
    offences = guarded(group.step, 1, [True] * 3)
    per_chunk = len(offences)
    assert guarded(group.step, 5, [True] * 3) == offences[:per_chunk] and all(o == "tensor" for o in offences)
