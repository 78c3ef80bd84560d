"""`ganviz lesson --list` and `ganviz lesson NAME --out DIR`: a lesson run headless into a printable handout."""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

EXIT_USAGE = 2


def add_lesson_parser(sub) -> None:
    p = sub.add_parser("lesson", help="list the lessons, or run one headless and write a handout (index.html + PNGs)",
                       description="Run a lesson (a shipped name, or a .toml file) headless: every step's actions "
                                   "and waits, its claims checked, and DIR/index.html with each step's text and "
                                   "the picture at that step.")
    p.add_argument("name", nargs="?", help="lesson name (see --list) or a lesson .toml file")
    p.add_argument("--list", action="store_true", help="list the lessons and scenarios")
    p.add_argument("--out", help="folder for the handout (created if missing)")


def _fail(message: str) -> int:
    print(f"ganviz lesson: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def lesson_command(args: argparse.Namespace) -> int:
    from ganviz.core import lessons

    if args.list:
        try:
            for les in lessons.available():
                print(f"{les.name:14} {les.kind:9} {les.title}")
        except lessons.LessonError as exc:
            return _fail(str(exc))
        return 0
    if not args.name:
        return _fail("give a lesson name (see `ganviz lesson --list`) or --list")
    if not args.out:
        return _fail("--out: required (the folder to write the handout into)")
    try:
        lesson = lessons.load(args.name)
    except lessons.LessonError as exc:
        return _fail(str(exc))
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"--out: {exc.strerror or exc}")
    failed = write_handout(lesson, out)
    for line in failed:
        print(f"ganviz lesson: claim not shown: {line}", file=sys.stderr)
    print(f"{lesson.title}: {len(lesson.steps)} steps -> {out / 'index.html'}", file=sys.stderr)
    return 1 if failed else 0


def write_handout(lesson, out: Path) -> list[str]:
    """Run `lesson` headless and write out/index.html and out/step_N.png; returns the failed claims."""
    from ganviz.core.lessons import _show as show
    from ganviz.core.lessons import frame_values, run_headless
    from ganviz.ui.render import render_lane

    parts, failed = [], []

    def on_step(outcome, session) -> None:
        frame = session.frame()
        pictures = []
        for lane in frame.lanes:
            name = f"step_{outcome.index + 1}" + (f"_lane{lane.id}" if len(frame.lanes) > 1 else "") + ".png"
            render_lane(frame, lane.id, out / name, size=(900, 620))
            caption = f"lane {lane.id}: {lane.label}, " if len(frame.lanes) > 1 else ""
            pictures.append(f'<figure><img src="{name}" alt="{html.escape(name)}"><figcaption>{html.escape(caption)}'
                            f"iteration {lane.iteration}</figcaption></figure>")
        if not outcome.met and outcome.step.until is not None:
            failed.append(f"step {outcome.index + 1}: wait {outcome.step.until.text!r} not met in "
                          f"{outcome.step.budget} iterations")
        failed.extend(f"step {outcome.index + 1}: {f}" for f in outcome.failed)
        values = frame_values(frame)
        checks = "".join(f"<li>{html.escape(c.text)} — here {html.escape(show(c, values))}"
                         f"{'' if c.holds(values) else ' (not shown this time)'}</li>" for c in outcome.step.checks)
        parts.append(f"<section><h2>Step {outcome.index + 1}</h2><p>{html.escape(outcome.step.text)}</p>"
                     + (f"<div class=claim>What this step shows:<ul>{checks}</ul></div>" if checks else "")
                     + "".join(pictures) + "</section>")

    run_headless(lesson, on_step)
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(lesson.title)}</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:auto}img{max-width:100%}"
            "section{page-break-inside:avoid;margin-bottom:2em}figure{margin:0}.claim{color:#333}"
            f"</style></head><body><h1>{html.escape(lesson.title)}</h1><p>{html.escape(lesson.summary)}</p>"
            + "".join(parts) + "</body></html>\n")
    (out / "index.html").write_text(page, encoding="utf-8")
    return failed
