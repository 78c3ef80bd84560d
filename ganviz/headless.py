"""Drive a Session headless into output folders: the shared loop of `ganviz train` and `ganviz sweep`
(metrics.csv per lane as rows are measured, then the checkpoint and each lane's final.png)."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ganviz.core.session import Session
from ganviz.runfiles import (CHECKPOINT, SAMPLES, CsvRows, StopSignals, atomic_save, export_samples, qt_unavailable,
                             reason, write_gray_png)


@dataclass
class LaneOut:
    folder: Path
    csv: CsvRows
    grid_every: int | None = None
    samples: int | None = None  # --samples N: write N generated points to samples.csv at the end


@dataclass
class Outcome:
    why: str                 # done | time | diverged | error | interrupted (Ctrl-C) | stopped (SIGTERM) | disk
    status: int              # the exit code
    seconds: float
    errors: list[str] = field(default_factory=list)


def columns(session: Session, lane_id: int) -> tuple[str, ...]:
    return session.lane(lane_id).log.columns


def progress_bar(total: int, unit: str = "it"):
    """A tqdm progress bar on an interactive terminal, else None (logs stay clean)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)


def drive(session: Session, outs: dict[int, LaneOut], steps: int, log_every: int, max_seconds: float | None,
          checkpoint_dir: Path, bar=None) -> Outcome:
    """Train every lane `steps` more iterations, writing each measured row to its lane's CSV; on a
    finish or a clean stop (time limit, Ctrl-C, SIGTERM) save the checkpoint and each lane's final.png."""
    grids = {lane.id: getattr(lane.trainer.task, "grid_image", None) for lane in session.lanes}
    single = len(session.lanes) == 1

    def on_row(lane, row: dict[str, float]) -> None:
        out = outs[lane.id]
        out.csv.write(row)
        if bar is not None and single and math.isfinite(row.get("jsd", math.nan)):
            bar.set_postfix(jsd=f"{row['jsd']:.4f}", refresh=False)
        grid = grids[lane.id]
        if out.grid_every is not None and grid is not None and row["step"] % out.grid_every == 0:
            path = out.folder / f"grid_{int(row['step']):06d}.png"
            atomic_save(path, lambda tmp: write_gray_png(grid(lane.trainer.G), tmp))

    session.on_row.append(on_row)
    start = time.perf_counter()
    errors: list[str] = []
    with StopSignals() as stop:
        try:
            why = session.run(steps, log_every, max_seconds=max_seconds,
                              on_progress=bar.update if bar is not None else None, should_stop=stop)
        except OSError as exc:  # a row (or a grid) could not be written: the disk is full, say
            why = "disk"
            errors.append(f"cannot write the metrics: {reason(exc)}; stopped at iteration "
                          f"{session.lanes[0].trainer.iteration}. metrics.csv ends on the last complete row.")
        except KeyboardInterrupt:  # not in the main thread, so no handler: stop where we are
            why = "stopped"
            stop.signal = 2
        finally:
            session.on_row.remove(on_row)
            for out in outs.values():
                out.csv.close()
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - start
        if why == "stopped":
            why = stop.name
        status = 0
        if why == "diverged":
            bad = [lane for lane in session.lanes if lane.state == "diverged"]
            if bad:
                for lane in bad:
                    where = outs[lane.id].folder / "metrics.csv"
                    errors.append(f"{lane.message}. The metrics measured before that are in {where}.")
                status = 1
                if len(bad) < len(session.lanes):
                    why = "done"  # the others finished
            else:  # an error inside training (e.g. out of memory): the session says what
                why = "error"
                errors.append(f"{session.message}. The metrics measured before that are in "
                              f"{', '.join(str(o.folder / 'metrics.csv') for o in outs.values())}.")
                status = 1
        if why == "disk":
            status = 1
        if why not in ("error", "disk") and any(lane.state == "ok" for lane in session.lanes):
            try:
                session.save(checkpoint_dir)
            except Exception as exc:
                errors.append(f"the checkpoint could not be saved: {exc}")
                status = status or 1
            no_qt = qt_unavailable()
            if no_qt:
                print(f"ganviz: notice: final.png skipped: {no_qt}; metrics.csv, config.json and the checkpoint "
                      "are written", file=sys.stderr)
            for lane in session.lanes:
                if lane.state != "ok":
                    continue
                try:
                    write_final(session, lane.id, outs[lane.id].folder, grids[lane.id], draw=not no_qt)
                except Exception as exc:
                    errors.append(f"{outs[lane.id].folder / 'final.png'} could not be written: {reason(exc)}")
                    status = status or 1
                if outs[lane.id].samples:
                    path = outs[lane.id].folder / SAMPLES
                    try:
                        export_samples(lane.trainer.task, lane.trainer.G, outs[lane.id].samples, lane.cfg.seed, path)
                    except (OSError, ValueError) as exc:
                        errors.append(f"{path} could not be written: {reason(exc) if isinstance(exc, OSError) else exc}")
                        status = status or 1
        if stop.signal is not None:
            status = stop.exit_code
    return Outcome(why, status, seconds, errors)


def config_json(session: Session, lane) -> str:
    """config.json of a lane: every setting (TrainConfig.from_json reads it back; `device` stays as
    asked, e.g. "auto"), plus the device the run trained on and why it was chosen (core/device.py)."""
    import json

    data = json.loads(lane.cfg.to_json())
    data["device_chosen"] = session.device.type
    data["device_reason"] = session.device_reason
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_final(session: Session, lane_id: int, folder: Path, grid_image=None, draw: bool = True) -> None:
    """The lane's final.png (drawn with Qt; skipped without `draw`) and, in MNIST, grid_final.png
    (written without Qt), each renamed into place only when complete."""
    lane = session.lane(lane_id)
    if grid_image is not None:
        atomic_save(folder / "grid_final.png", lambda tmp: write_gray_png(grid_image(lane.trainer.G), tmp))
    if not draw:
        return
    from ganviz.ui.render import render_lane

    # The picture of the last measurement; it does not add a row (the rows are the CSV's).
    lane.picture = lane.trainer.evaluate(views=True).picture
    frame = session.frame()
    atomic_save(folder / "final.png", lambda tmp: render_lane(frame, lane_id, tmp))
