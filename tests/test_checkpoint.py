"""Checkpoint folders: round trip, resuming bit for bit, atomic replacement, and every way a folder
can fail to save or load (including a lane file crafted to run code when unpickled)."""

import contextlib
import errno
import hashlib
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from ganviz.core import checkpoint
from ganviz.core.checkpoint import (FORMAT, VERSION, CheckpointError, find_checkpoint, load_checkpoint,
                                    save_checkpoint)


def _models(seed=0):
    torch.manual_seed(seed)
    G = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    D = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1))
    return G, D, torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999)), torch.optim.Adam(D.parameters())


def _step(G, D, opt_g, opt_d, gen):
    """One GAN step whose noise comes from `gen`, so that resuming must restore the RNG too."""
    real = torch.randn(16, 2, generator=gen) + 1.0
    fake = G(torch.randn(16, 4, generator=gen))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    opt_d.zero_grad()
    (bce(D(real), torch.ones(16, 1)) + bce(D(fake.detach()), torch.zeros(16, 1))).backward()
    opt_d.step()
    opt_g.zero_grad()
    bce(D(fake), torch.ones(16, 1)).backward()
    opt_g.step()


def _lane(G, D, opt_g, opt_d, gen, iteration):
    return {"G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "gen": gen.get_state(), "iteration": iteration, "lr": 1e-3, "note": "lane", "ema": None,
            "done": False, "history": {"step": torch.arange(iteration, dtype=torch.float64),
                                       "jsd": torch.linspace(0.7, 0.1, iteration, dtype=torch.float64)}}


def _trained_lane(steps=3, seed=0):
    G, D, opt_g, opt_d = _models(seed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        _step(G, D, opt_g, opt_d, gen)
    return (G, D, opt_g, opt_d, gen), _lane(G, D, opt_g, opt_d, gen, steps)


def _assert_equal(a, b):
    assert type(a) is type(b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_equal(x, y)
    else:
        assert a == b


META = {"task": "toy2d", "lanes": [{"loss": "nsgan", "lr": 1e-3}, {"loss": "wgan-gp", "lr": 5e-5}],
        "labels": ["A", "B"]}


@pytest.fixture
def saved(tmp_path):
    """A two-lane run saved in tmp_path/run."""
    lanes = [_trained_lane(3, seed=0)[1], _trained_lane(2, seed=1)[1]]
    save_checkpoint(tmp_path / "run", META, lanes)
    return tmp_path / "run", lanes


def _rehash(folder, name):
    """Make the manifest agree with the current bytes of `name`, as a tamperer would."""
    manifest = json.loads((folder / "run.json").read_text())
    manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "run.json").write_text(json.dumps(manifest))


def _load_error(folder):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(folder)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- round trip ---------------------------------------------------------------------------------


def test_round_trip_restores_every_value(saved):
    folder, lanes = saved
    assert sorted(p.name for p in folder.iterdir()) == ["lane-0.pt", "lane-1.pt", "run.json"]
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["format"] == FORMAT and manifest["version"] == VERSION and manifest["created"]
    meta, loaded = load_checkpoint(str(folder))
    assert meta == META
    assert len(loaded) == 2
    for original, back in zip(lanes, loaded):
        _assert_equal(original, back)
    assert loaded[0]["G"]._metadata == lanes[0]["G"]._metadata  # load_state_dict reads module versions
    G, D, opt_g, opt_d = _models(seed=5)
    G.load_state_dict(loaded[0]["G"])
    opt_g.load_state_dict(loaded[0]["opt_g"])
    assert opt_g.param_groups[0]["betas"] == (0.5, 0.999)
    torch.Generator().set_state(loaded[0]["gen"])


def test_resuming_continues_bit_for_bit(tmp_path):
    (G, D, opt_g, opt_d, gen), lane = _trained_lane(3)
    save_checkpoint(tmp_path / "run", {}, [lane])
    for _ in range(2):
        _step(G, D, opt_g, opt_d, gen)

    _, (state,) = load_checkpoint(tmp_path / "run")
    G2, D2, opt_g2, opt_d2 = _models(seed=9)
    gen2 = torch.Generator()
    G2.load_state_dict(state["G"])
    D2.load_state_dict(state["D"])
    opt_g2.load_state_dict(state["opt_g"])
    opt_d2.load_state_dict(state["opt_d"])
    gen2.set_state(state["gen"])
    for _ in range(2):
        _step(G2, D2, opt_g2, opt_d2, gen2)
    for a, b in zip([*G.state_dict().values(), *D.state_dict().values()],
                    [*G2.state_dict().values(), *D2.state_dict().values()]):
        assert torch.equal(a, b)


def test_a_view_saves_only_its_own_values(tmp_path):
    """A history column that is a view of a large preallocated buffer does not drag the buffer along."""
    buffer = torch.from_numpy(np.full((200_000, 4), np.nan))
    buffer[:3, 1] = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    column = buffer[:3, 1]
    save_checkpoint(tmp_path / "run", {}, [{"history": {"jsd": column}}])
    assert (tmp_path / "run" / "lane-0.pt").stat().st_size < 100_000
    _, (lane,) = load_checkpoint(tmp_path / "run")
    assert torch.equal(lane["history"]["jsd"], column)


def test_a_value_that_cannot_be_loaded_safely_is_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"lane 0 > history > jsd is a numpy.ndarray"):
        save_checkpoint(tmp_path / "run", {}, [{"history": {"jsd": np.zeros(3)}}])
    with pytest.raises(TypeError, match=r"numpy.float64"):
        save_checkpoint(tmp_path / "run", {}, [{"loss": np.float64(0.5)}])  # a float subclass, still refused
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "run", {"shape": np.zeros(2)}, [])
    assert list(tmp_path.iterdir()) == []


# --- saving: atomic replacement and unwritable places -----------------------------------------------


def test_saving_again_replaces_the_run(saved):
    folder, _ = saved
    save_checkpoint(folder, {"second": True}, [{"iteration": 7}])
    meta, lanes = load_checkpoint(folder)
    assert meta == {"second": True} and lanes == [{"iteration": 7}]
    assert sorted(p.name for p in folder.iterdir()) == ["lane-0.pt", "run.json"]
    assert [p.name for p in folder.parent.iterdir()] == ["run"]


def test_a_failed_save_keeps_the_previous_run_and_no_temp_folder(saved, monkeypatch):
    folder, lanes = saved
    real_save = torch.save
    calls = []

    def save_then_run_out_of_space(obj, f):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"half a file")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save_then_run_out_of_space)
    with pytest.raises(CheckpointError, match="disk is full"):
        save_checkpoint(folder, {"new": 1}, [{"a": 1}, {"b": 2}, {"c": 3}])
    monkeypatch.undo()
    assert [p.name for p in folder.parent.iterdir()] == ["run"]
    meta, loaded = load_checkpoint(folder)
    assert meta == META
    _assert_equal(lanes, loaded)


def test_a_failed_rename_puts_the_previous_run_back(saved, monkeypatch):
    folder, lanes = saved
    real_rename = os.rename

    def rename(src, dst):
        if ".tmp-" in str(src) and not str(src).endswith(".old"):
            raise OSError(errno.EIO, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(checkpoint.os, "rename", rename)
    with pytest.raises(CheckpointError, match="input/output error"):
        save_checkpoint(folder, {"new": 1}, [{"a": 1}])
    monkeypatch.undo()
    assert [p.name for p in folder.parent.iterdir()] == ["run"]
    meta, loaded = load_checkpoint(folder)
    assert meta == META
    _assert_equal(lanes, loaded)


def test_a_file_in_the_way_is_an_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CheckpointError, match="it is a file"):
        save_checkpoint(tmp_path / "afile", {}, [{}])
    with pytest.raises(CheckpointError, match="is a file, not a folder"):
        save_checkpoint(tmp_path / "afile" / "run", {}, [{}])  # works for root too
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_an_unwritable_place_is_an_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(checkpoint.tempfile, "mkdtemp", refuse)  # what a read-only folder does, even as root
    with pytest.raises(CheckpointError, match="permission denied"):
        save_checkpoint(tmp_path / "run", {}, [{}])
    monkeypatch.undo()
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(CheckpointError, match="permission denied"):
                save_checkpoint(locked / "run", {}, [{}])
        finally:
            locked.chmod(0o700)
    assert not (tmp_path / "run").exists()


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(CheckpointError, match="holds other files"):
        save_checkpoint(folder, {}, [{}])
    assert [p.name for p in folder.iterdir()] == ["holiday.jpg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    save_checkpoint(empty, {"ok": 1}, [{}])
    assert load_checkpoint(empty) == ({"ok": 1}, [{}])


def test_missing_parents_are_created(tmp_path):
    save_checkpoint(tmp_path / "out" / "checkpoint", {}, [])
    assert load_checkpoint(tmp_path / "out" / "checkpoint") == ({}, [])


# --- loading: every kind of bad folder --------------------------------------------------------------


def test_a_missing_folder(tmp_path):
    assert "does not exist" in _load_error(tmp_path / "nowhere")


def test_a_folder_without_a_manifest(tmp_path):
    assert "not a ganviz run" in _load_error(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert "it is a file" in _load_error(tmp_path / "afile")


def test_an_unreadable_folder(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "run", {}, [{}])

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(checkpoint.Path, "read_text", refuse)
    assert _load_error(tmp_path / "run").endswith("run: permission denied")


def test_a_foreign_manifest(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"name": "some other tool", "version": 1}))
    assert "not a ganviz run" in _load_error(tmp_path)
    (tmp_path / "run.json").write_text("[1, 2")
    assert "damaged or not a ganviz run" in _load_error(tmp_path)


def test_a_newer_format(saved):
    folder, _ = saved
    manifest = json.loads((folder / "run.json").read_text())
    manifest["version"] = VERSION + 1
    (folder / "run.json").write_text(json.dumps(manifest))
    assert _load_error(folder).endswith(f"saved by a newer ganviz (format {VERSION + 1}); "
                                        f"this ganviz reads format {VERSION}")
    manifest["version"] = "1"
    (folder / "run.json").write_text(json.dumps(manifest))
    assert "format version is '1'" in _load_error(folder)


def test_a_truncated_lane_file(saved):
    folder, _ = saved
    data = (folder / "lane-1.pt").read_bytes()
    (folder / "lane-1.pt").write_bytes(data[: len(data) // 2])
    message = _load_error(folder)
    assert "lane-1.pt is damaged" in message and "checksum" in message
    _rehash(folder, "lane-1.pt")  # a truncated file that the manifest agrees with still fails to load
    assert "lane-1.pt cannot be loaded" in _load_error(folder)


def test_a_tampered_byte(saved):
    folder, _ = saved
    data = bytearray((folder / "lane-0.pt").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "lane-0.pt").write_bytes(bytes(data))
    assert "lane-0.pt is damaged" in _load_error(folder)


def test_a_missing_lane_file(saved):
    folder, _ = saved
    (folder / "lane-1.pt").unlink()
    assert "lane-1.pt is missing" in _load_error(folder)


def test_a_manifest_cannot_name_files_outside_the_folder(saved, tmp_path):
    folder, _ = saved
    shutil.copy(folder / "lane-0.pt", tmp_path / "elsewhere.pt")
    manifest = json.loads((folder / "run.json").read_text())
    manifest["files"] = {"../elsewhere.pt": manifest["files"]["lane-0.pt"]}
    (folder / "run.json").write_text(json.dumps(manifest))
    assert "list of files is not valid" in _load_error(folder)


class _Exploit:
    """Unpickling this creates `marker`: what any code an attacker wanted would run as."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.mark.parametrize("container", ["torch", "pickle"])
def test_a_lane_file_crafted_to_run_code_is_refused_and_never_runs(saved, tmp_path, container):
    folder, _ = saved
    marker = tmp_path / "pwned"
    payload = {"G": _Exploit(marker), "iteration": 1}
    if container == "torch":
        with open(folder / "lane-0.pt", "wb") as f:
            torch.save(payload, f)
    else:
        (folder / "lane-0.pt").write_bytes(pickle.dumps(payload, protocol=2))
    _rehash(folder, "lane-0.pt")

    assert "lane-0.pt cannot be loaded safely" in _load_error(folder)
    assert not marker.exists()

    # The file really is an exploit: an unguarded load runs it.
    if container == "torch":
        torch.load(folder / "lane-0.pt", weights_only=False)
    else:
        pickle.loads((folder / "lane-0.pt").read_bytes())
    assert marker.is_dir()


# --- finding a checkpoint ---------------------------------------------------------------------------


def test_find_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "run", {}, [])
    assert find_checkpoint(tmp_path / "run") == tmp_path / "run"
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.csv").write_text("step\n")
    assert find_checkpoint(str(out)) is None
    save_checkpoint(out / "checkpoint", {}, [])
    assert find_checkpoint(str(out)) == out / "checkpoint"
    assert find_checkpoint(tmp_path / "nowhere") is None
    assert find_checkpoint(tmp_path / "run" / "run.json") is None


# --- a whole image-mode run -----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["conv", "mlp", "conv-legacy"])
def test_an_image_mode_run_resumes_bit_for_bit_with_its_average_of_g(tmp_path, arch):
    """The moving average of G's weights (and its update count) and D's optimizer state are part
    of the saved run: stopping, saving, loading and going on gives exactly the uninterrupted run."""
    from ganviz.core.config import TrainConfig

    cfg = TrainConfig.for_mode("mnist", extra={"arch": arch}, hidden=8, batch=8, device="cpu",
                               data_dir=_unlabelled_digits(tmp_path))
    with _straight_and_resumed(cfg, tmp_path / "run") as (straight, second):
        second.run(3, 3)
        a, b = straight.lanes[0].trainer, second.lanes[0].trainer
        updates = 6 * cfg.k_g  # the average follows every G update (conv: k_G = 2)
        assert a.iteration == b.iteration == 6 and float(getattr(b.G, "average_updates", updates)) == updates
        _assert_same_models(a, b)
        assert any(key.startswith("average.") for key in a.G.state_dict()) == (arch != "conv-legacy")
        if arch == "conv":  # the lazy R1 step after D update 1 is part of the run, straight or resumed
            assert [max(int(s["step"]) for s in t.opt_d.state.values()) for t in (a, b)] == [7, 7]


@pytest.mark.parametrize("saved_arch, resumed_arch", [("conv-legacy", "conv-legacy"), (None, None)])
def test_an_image_mode_run_saved_before_arch_resumes_as_conv_legacy_bit_for_bit(tmp_path, saved_arch, resumed_arch):
    """A run saved before --arch names no model and trained what is now conv-legacy: made here as a
    conv-legacy run whose saved config then loses its arch, it loads as conv-legacy and goes on
    exactly like the uninterrupted run. A run saved since without --arch (the default, conv) still
    loads as conv: the saved weights tell the two apart."""
    from ganviz.core.config import TrainConfig

    cfg = TrainConfig.for_mode("mnist", extra={"arch": saved_arch} if saved_arch else None, hidden=8, batch=8,
                               device="cpu", data_dir=_unlabelled_digits(tmp_path))
    def as_before_arch(folder):
        manifest = json.loads((folder / "run.json").read_text())
        manifest["meta"]["lanes"][0]["cfg"]["extra"].pop("arch", None)  # the config as before --arch
        (folder / "run.json").write_text(json.dumps(manifest))

    with _straight_and_resumed(cfg, tmp_path / "run", as_before_arch) as (straight, second):
        assert second.lanes[0].cfg.extra.get("arch") == resumed_arch
        assert second.lanes[0].cfg.replace(extra={}) == cfg.replace(extra={})  # every other setting kept
        second.run(3, 3)
        a, b = straight.lanes[0].trainer, second.lanes[0].trainer
        assert a.iteration == b.iteration == 6
        _assert_same_models(a, b)
        assert np.array_equal(straight.lanes[0].log.column("d_loss"), second.lanes[0].log.column("d_loss"),
                              equal_nan=True)  # the history: every row kept, the new ones alike


@contextlib.contextmanager
def _straight_and_resumed(cfg, folder, edit_saved=None):
    """(a session trained 6 iterations straight, one trained 3, saved to `folder`, changed there by
    `edit_saved(folder)` if given, and loaded again): the caller trains the second 3 more and compares.
    Every session is closed afterwards."""
    from ganviz.core.session import Session

    straight, first = Session([cfg]), Session([cfg])
    second = None
    try:
        straight.run(6, 3)
        first.run(3, 3)
        first.save(folder)
        if edit_saved is not None:
            edit_saved(folder)
        second = Session.load(folder)
        yield straight, second
    finally:
        for session in (straight, first, second):
            if session is not None:
                session.close()


def _assert_same_models(a, b) -> None:
    """Two trainers' G and D alike to the bit: the same state_dict keys, tensors equal, a module's
    extra state (plain values) equal."""
    sa, sb = {**a.G.state_dict(), **a.D.state_dict()}, {**b.G.state_dict(), **b.D.state_dict()}
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]) if torch.is_tensor(sa[key]) else sa[key] == sb[key], key


def test_a_run_of_an_earlier_image_model_is_refused_in_one_line(tmp_path):
    """A conv run saved before D got its third convolution (and its shifts) has weights the model of
    this version lacks: resuming says so in one line instead of a page of key names, and loads nothing."""
    from ganviz.core.config import TrainConfig
    from ganviz.core.mnist import models
    from ganviz.core.session import Session

    cfg = TrainConfig.for_mode("mnist", hidden=8, batch=8, device="cpu", data_dir=_unlabelled_digits(tmp_path, 100))
    session = Session([cfg])
    try:
        session.run(2, 2)
        session.lanes[0].trainer.D = models.ConvDiscriminator(8, spectral=True)  # the earlier conv D
        session.save(tmp_path / "run")
    finally:
        session.close()
    with pytest.raises(CheckpointError) as caught:
        Session.load(tmp_path / "run")
    message = str(caught.value)
    assert "its D does not fit the conv model of this version" in message and "earlier version" in message
    assert "\n" not in message and "parametrizations" not in message


def _unlabelled_digits(tmp_path, n: int = 500) -> str:
    """A folder of `n` bundled digits as an IDX file without labels: the image mode then starts no
    classifier, whose thread would build its network from torch's global generator while the runs
    build theirs (which would make two runs of one seed differ from the start)."""
    from ganviz.core.mnist.data import load_bundled
    from ganviz.core.mnist.idx import write_idx

    folder = tmp_path / "digits"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", load_bundled().images[:n])
    return str(folder)
