"""Save and load a whole training session (every lane's weights, optimizers, RNG and history) as a folder."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path

import torch

from ganviz.core.oserror import reason

FORMAT = "ganviz-run"
VERSION = 1
MANIFEST = "run.json"

_LANE_NAME = re.compile(r"lane-(0|[1-9][0-9]*)\.pt")
_SCALARS = (int, float, bool, str, type(None))


class CheckpointError(Exception):
    """A folder that cannot be saved to or loaded from; str(exc) is one clear line for the user."""


def save_checkpoint(folder: str | Path, meta: dict, lanes: list[dict]) -> None:
    """Write `meta` (JSON) and one torch file per lane into `folder`, replacing what was there only
    once the new checkpoint is complete. A lane state is a nested dict/OrderedDict/list/tuple of
    torch.Tensor, int, float, bool, str and None (dict keys str or int): exactly what
    torch.load(weights_only=True) can read back. Anything else is a TypeError, raised before any
    file is written, since it is a bug in the caller rather than a problem with the place."""
    meta_json = json.dumps(meta)  # a TypeError here, before touching the disk, like the lanes below
    states = [_checked(lane, f"lane {i}") for i, lane in enumerate(lanes)]
    folder = Path(os.path.abspath(folder))
    tmp = None
    try:
        if folder.exists() and not folder.is_dir():
            raise CheckpointError(f"cannot save the run to {folder}: it is a file, not a folder")
        if folder.is_dir() and not _replaceable(folder):
            raise CheckpointError(f"cannot save the run to {folder}: the folder holds other files; "
                                  "choose a new or empty folder")
        folder.parent.mkdir(parents=True, exist_ok=True)
        # A sibling, so that the final rename stays on one file system and is atomic.
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        files = {}
        for i, state in enumerate(states):
            name = f"lane-{i}.pt"
            with open(tmp / name, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            files[name] = _sha256(tmp / name)
        manifest = {"format": FORMAT, "version": VERSION, "meta": json.loads(meta_json), "files": files,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        _swap_in(tmp, folder)
        tmp = None
        _fsync_dir(folder.parent)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"cannot save the run to {folder}: {_reason(exc)}") from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def load_checkpoint(folder: str | Path) -> tuple[dict, list[dict]]:
    """Return (meta, lanes) as saved, after checking the format, the version and every file's
    sha256. Lane files are read only with torch.load(weights_only=True), so no pickled code runs."""
    folder = Path(folder)
    try:
        return _load(folder)
    except CheckpointError:
        raise
    except Exception as exc:  # e.g. a folder that may not be listed: still one line, not a traceback
        raise CheckpointError(f"cannot load the run from {folder}: {_reason(exc)}") from exc


def _load(folder: Path) -> tuple[dict, list[dict]]:
    if not folder.exists():
        raise CheckpointError(f"no ganviz run at {folder}: the folder does not exist")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a ganviz run: it is a file, not a folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a ganviz run: it has no {MANIFEST}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        manifest = json.loads(text)
    except Exception as exc:
        raise CheckpointError(f"{path} is damaged or not a ganviz run: {_reason(exc)}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{folder} is not a ganviz run: its {MANIFEST} is not a ganviz manifest")
    version, files = manifest.get("version"), manifest.get("files")
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{path} is damaged: its format version is {version!r}")
    if version > VERSION:
        raise CheckpointError(f"{folder} was saved by a newer ganviz (format {version}); "
                              f"this ganviz reads format {VERSION}")
    if "meta" not in manifest:
        raise CheckpointError(f"{path} is damaged: it has no settings (\"meta\")")
    # Only the names this module writes, so a tampered manifest cannot point outside the folder.
    if (not isinstance(files, dict)
            or sorted(files) != sorted(f"lane-{i}.pt" for i in range(len(files)))
            or not all(isinstance(h, str) for h in files.values())):
        raise CheckpointError(f"{path} is damaged: its list of files is not valid")
    lanes = []
    for i in range(len(files)):
        name = f"lane-{i}.pt"
        lane_path = folder / name
        if not lane_path.is_file():
            raise CheckpointError(f"{folder} is incomplete: {name} is missing")
        if _sha256(lane_path) != files[name]:
            raise CheckpointError(f"{lane_path} is damaged: its contents do not match the checksum in {MANIFEST}")
        try:
            lanes.append(torch.load(lane_path, map_location="cpu", weights_only=True))
        except Exception as exc:
            raise CheckpointError(f"{lane_path} cannot be loaded safely: it is damaged or holds more than tensors "
                                  f"and plain values ({_reason(exc, 80)})") from exc
    return manifest["meta"], lanes


def find_checkpoint(folder: str | Path) -> Path | None:
    """`folder` if it holds a manifest, else `folder/checkpoint` if that does (where `ganviz train
    --out DIR` keeps its checkpoint), else None."""
    for candidate in (Path(folder), Path(folder) / "checkpoint"):
        try:
            if (candidate / MANIFEST).is_file():
                return candidate
        except OSError:  # a folder that may not be looked into holds no checkpoint we could load
            pass
    return None


def _checked(value, where: str):
    """A copy of a lane state with its types checked, so that a state which weights_only loading
    would refuse fails now rather than when the user tries to resume."""
    if isinstance(value, torch.Tensor):
        # A view of a larger buffer (e.g. one column of a metrics log) would save the whole buffer.
        used = value.nelement() * value.element_size()
        if value.layout == torch.strided and value.untyped_storage().nbytes() > used:
            return value.detach().clone()
        return value
    if type(value) in _SCALARS:
        return value
    if type(value) in (dict, OrderedDict):
        out = copy.copy(value)  # keeps a state_dict's _metadata, which load_state_dict reads
        for key, item in value.items():
            if type(key) not in (str, int):
                raise TypeError(f"{where}: key {key!r} is a {type(key).__name__}; keys must be str or int")
            out[key] = _checked(item, f"{where} > {key}")
        return out
    if type(value) in (list, tuple):
        return type(value)(_checked(item, f"{where}[{i}]") for i, item in enumerate(value))
    kind = type(value)
    raise TypeError(f"{where} is a {kind.__module__}.{kind.__qualname__}; a checkpoint holds only tensors, "
                    "int, float, bool, str, None and dicts/lists/tuples of them")


def _replaceable(folder: Path) -> bool:
    """Whether `folder` holds nothing but what a save writes, so replacing it loses nothing else."""
    return all(p.name == MANIFEST or _LANE_NAME.fullmatch(p.name) for p in folder.iterdir())


def _swap_in(tmp: Path, folder: Path) -> None:
    """Rename `tmp` to `folder`. A non-empty folder cannot be renamed over, so the old one moves
    aside first and comes back if the second rename fails."""
    if not folder.exists():
        os.rename(tmp, folder)
        return
    old = tmp.with_name(tmp.name + ".old")
    os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except BaseException:
        os.rename(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    # Makes the renames themselves durable; directories cannot be opened for this on Windows.
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(exc: BaseException, limit: int = 200) -> str:
    return reason(exc, filename=False, typed=True, limit=limit)
