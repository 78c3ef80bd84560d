"""Lessons and scenarios: TOML files of settings, then steps of text, Session actions and a wait.

A lesson file (ganviz/lessons/*.toml) holds

    title = "…"; kind = "lesson" | "scenario"; order = 1; summary = "…"
    [settings]              # shared settings and the first lane's (any TrainConfig field)
    mode = "1d"; dataset = "bimodal"; seed = 0
    lanes = [{ k = 1 }, { k = 5 }]   # optional: one table of per-lane changes per lane
    [[steps]]
    text = "…"              # what to look at, in THEORY.md's words
    actions = [{ do = "fit_d_star" }, { do = "set", lane = 0, k = 5 }]
    until = "jsd < 0.05"    # or "iteration >= 2000", "lane 1 modes <= 2", "fit done"
    budget = 3000           # most iterations the wait may train (a wait that is not met fails)
    check = ["lane 0 jsd > 1.5 * lane 1 jsd"]   # the claim, asserted when the wait is over

A wait on iterations or metrics trains (plays) until it holds; "fit done" waits for Fit D*. A
term is a number, or `[c *] [lane ID] NAME` where NAME is a metric of the lane's latest
measurement (jsd, jsd_d, modes, fd, …), `iteration`, `d_updates`, `g_updates` or `diverged`.
`run_headless` drives a Session through a lesson (the tests and `ganviz lesson`); the window's
Lessons panel (ganviz.ui.lessons_panel) plays the same steps through its worker.
"""

from __future__ import annotations

import math
import operator
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ganviz.core.config import ConfigError, TrainConfig

ACTIONS = ("play", "pause", "step", "reset", "fit_d_star", "set", "add_lane", "remove_lane", "configure",
           "set_speed")
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
       "!=": operator.ne}
DEFAULT_BUDGET = 5000
_TERM = re.compile(r"^\s*(?:(?P<coef>[-+]?[0-9.]+(?:e[-+]?\d+)?)\s*\*\s*)?(?:lane\s+(?P<lane>\d+)\s+)?"
                   r"(?P<name>[a-z_][a-z0-9_]*)\s*$|^\s*(?P<num>[-+]?[0-9.]+(?:e[-+]?\d+)?)\s*$", re.I)


class LessonError(ValueError):
    """A lesson file that cannot be used, or a lesson whose wait or claim failed; says which and why."""


@dataclass(frozen=True)
class Term:
    coef: float = 1.0
    lane: int | None = None
    name: str | None = None  # None: a number (coef)

    def value(self, values: Callable[[int | None, str], float]) -> float:
        return self.coef if self.name is None else self.coef * values(self.lane, self.name)


@dataclass(frozen=True)
class Condition:
    text: str
    left: Term | None = None
    op: str = ""
    right: Term | None = None
    fit_done: bool = False

    @property
    def trains(self) -> bool:
        return not self.fit_done

    def holds(self, values: Callable[[int | None, str], float]) -> bool:
        if self.fit_done:
            return values(None, "fitting") == 0
        a, b = self.left.value(values), self.right.value(values)
        return math.isfinite(a) and math.isfinite(b) and OPS[self.op](a, b)


@dataclass(frozen=True)
class Action:
    do: str
    args: dict[str, Any] = field(default_factory=dict)

    def apply(self, session) -> None:
        """Apply this action to a Session (the window's worker calls this with its session)."""
        args = dict(self.args)
        if self.do in ("set", "remove_lane"):
            lane = args.pop("lane", 0)
            getattr(session, self.do)(lane, **args)
        elif self.do == "step":
            session.step(int(args.get("n", 1)))
        elif self.do == "add_lane":
            session.add_lane(**args)
        elif self.do == "set_speed":
            session.set_speed(args.get("rate"))
        else:
            getattr(session, self.do)(**args)


@dataclass(frozen=True)
class Step:
    text: str
    actions: tuple[Action, ...] = ()
    until: Condition | None = None
    budget: int = DEFAULT_BUDGET
    checks: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    kind: str
    order: int
    summary: str
    configs: tuple[TrainConfig, ...]
    steps: tuple[Step, ...]
    source: str = ""

    def session(self):
        from ganviz.core.session import Session

        return Session([cfg.replace() for cfg in self.configs])


# --- parsing --------------------------------------------------------------------------------------
def parse_term(text: str, where: str) -> Term:
    m = _TERM.match(text)
    if m is None:
        raise LessonError(f"{where}: cannot read {text.strip()!r} (a number, or [c *] [lane N] metric)")
    if m.group("num") is not None:
        return Term(coef=float(m.group("num")))
    return Term(coef=float(m.group("coef") or 1.0), lane=int(m.group("lane")) if m.group("lane") else None,
                name=m.group("name").lower())


def parse_condition(text: Any, where: str) -> Condition:
    if not isinstance(text, str):
        raise LessonError(f"{where}: a condition is a string such as \"jsd < 0.05\" (got {text!r})")
    if text.strip().lower() == "fit done":
        return Condition(text, fit_done=True)
    m = re.match(r"^(.*?)(<=|>=|==|!=|<|>)(.*)$", text)
    if m is None:
        raise LessonError(f"{where}: {text!r} has no comparison (<, <=, >, >=, ==, !=) and is not \"fit done\"")
    return Condition(text, parse_term(m.group(1), where), m.group(2), parse_term(m.group(3), where))


def _action(data: Any, where: str) -> Action:
    if isinstance(data, str):
        data = {"do": data}
    if not isinstance(data, dict) or "do" not in data:
        raise LessonError(f"{where}: an action is a table with do = one of {', '.join(ACTIONS)} (got {data!r})")
    do = data["do"]
    if do not in ACTIONS:
        raise LessonError(f"{where}: unknown action {do!r}; choose one of {', '.join(ACTIONS)}")
    return Action(do, {k: v for k, v in data.items() if k != "do"})


def parse(data: dict[str, Any], name: str, source: str = "") -> Lesson:
    """A Lesson from a TOML table; LessonError names the file, the place and what is wrong."""
    where = source or name
    known = {"title", "kind", "order", "summary", "settings", "steps"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise LessonError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(known))})")
    title = data.get("title")
    if not isinstance(title, str) or not title:
        raise LessonError(f"{where}: needs a title = \"…\"")
    kind = data.get("kind", "lesson")
    if kind not in ("lesson", "scenario"):
        raise LessonError(f"{where}: kind must be \"lesson\" or \"scenario\" (got {kind!r})")
    settings = dict(data.get("settings") or {})
    if not isinstance(data.get("settings", {}), dict):
        raise LessonError(f"{where}: [settings] must be a table")
    lanes = settings.pop("lanes", [{}])
    if not isinstance(lanes, list) or not lanes or not all(isinstance(x, dict) for x in lanes):
        raise LessonError(f"{where}: settings.lanes must be a list of tables, one per lane")
    mode = settings.pop("mode", "1d")
    try:
        configs = tuple(TrainConfig.for_mode(mode, **{**settings, **lane}) for lane in lanes)
    except ConfigError as exc:
        raise LessonError(f"{where}: [settings] {exc}") from None
    except TypeError as exc:
        raise LessonError(f"{where}: [settings] {exc}") from None
    steps_data = data.get("steps")
    if not isinstance(steps_data, list) or not steps_data:
        raise LessonError(f"{where}: needs at least one [[steps]] table")
    steps = []
    for i, s in enumerate(steps_data, 1):
        at = f"{where}: step {i}"
        if not isinstance(s, dict):
            raise LessonError(f"{at}: must be a table")
        bad = sorted(set(s) - {"text", "actions", "until", "budget", "check"})
        if bad:
            raise LessonError(f"{at}: unknown key {bad[0]!r} (expected text, actions, until, budget, check)")
        if not isinstance(s.get("text"), str) or not s["text"].strip():
            raise LessonError(f"{at}: needs text = \"…\"")
        actions = s.get("actions", [])
        if not isinstance(actions, list):
            raise LessonError(f"{at}: actions must be a list")
        budget = s.get("budget", DEFAULT_BUDGET)
        if not isinstance(budget, int) or budget < 1:
            raise LessonError(f"{at}: budget must be a positive number of iterations (got {budget!r})")
        checks = s.get("check", [])
        if isinstance(checks, str):
            checks = [checks]
        steps.append(Step(
            text=" ".join(s["text"].split()),
            actions=tuple(_action(a, f"{at}: action {j}") for j, a in enumerate(actions, 1)),
            until=parse_condition(s["until"], f"{at}: until") if "until" in s else None,
            budget=budget,
            checks=tuple(parse_condition(c, f"{at}: check") for c in checks)))
    return Lesson(name=name, title=title, kind=kind, order=int(data.get("order", 99)),
                  summary=" ".join(str(data.get("summary", "")).split()), configs=configs, steps=tuple(steps),
                  source=source)


def load_file(path: str | Path) -> Lesson:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LessonError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(f"{path}: not valid TOML ({exc})") from None
    return parse(data, path.stem, str(path))


def _folder():
    return resources.files("ganviz") / "lessons"


def available(kind: str | None = None) -> list[Lesson]:
    """The lessons (and scenarios) shipped with ganviz, in their order."""
    found = [load_file(Path(str(p))) for p in _folder().iterdir() if p.name.endswith(".toml")]
    return sorted((x for x in found if kind is None or x.kind == kind), key=lambda x: (x.order, x.name))


def load(name: str) -> Lesson:
    """A shipped lesson by name, or a lesson file by path."""
    if name.endswith(".toml") or "/" in name:
        return load_file(name)
    path = _folder() / f"{name}.toml"
    if not path.is_file():
        names = ", ".join(x.name for x in available())
        raise LessonError(f"no lesson {name!r}; choose one of {names} (or give a .toml file)")
    return load_file(Path(str(path)))


# --- reading state --------------------------------------------------------------------------------
def frame_values(frame) -> Callable[[int | None, str], float]:
    """The values a condition reads, from a Session's Frame (the window reads the same)."""

    def value(lane_id: int | None, name: str) -> float:
        if name == "fitting":
            return 1.0 if frame.state == "fitting" else 0.0
        lane = frame.lanes[0] if lane_id is None else frame.lane(lane_id)
        if lane is None:
            return math.nan
        if name in ("iteration", "d_updates", "g_updates"):
            return float(getattr(lane, name))
        if name == "diverged":
            return 1.0 if lane.state == "diverged" else 0.0
        return float(lane.metrics.get(name, math.nan))

    return value


# --- running headless -----------------------------------------------------------------------------
@dataclass
class StepOutcome:
    index: int
    step: Step
    met: bool
    iterations: int
    failed: list[str]  # the checks that do not hold, with their values


def run_headless(lesson: Lesson, on_step: Callable[[StepOutcome, Any], None] | None = None,
                 session=None) -> list[StepOutcome]:
    """Play every step of `lesson` on a Session (a new one unless given): apply its actions, train
    until its wait holds (at most `budget` iterations), check its claims, then call
    `on_step(outcome, session)` (the session is published: its Frame has pictures)."""
    from ganviz.core.device import limit_threads

    own = session is None
    if own:
        session = lesson.session()
    limit_threads(session.lanes[0].trainer.task.max_threads)
    for lane in session.lanes:  # the image metrics need their classifier (MNIST)
        wait = getattr(lane.trainer.task, "wait_classifier", None)
        if wait is not None:
            wait(300)
    every = max(1, min(100, session.cfg.log_every))
    outcomes = []
    try:
        for i, step in enumerate(lesson.steps):
            for action in step.actions:
                action.apply(session)
            start = max(lane.trainer.iteration for lane in session.lanes)
            met = _wait(session, step, every)
            for lane in session.lanes:  # the picture at this step (no extra row in the history)
                if lane.state == "ok":
                    try:
                        lane.picture = lane.trainer.evaluate(views=True).picture
                    except Exception:  # a lane that cannot be measured keeps its last picture
                        pass
            frame = session.frame()
            values = frame_values(frame)
            failed = [f"{c.text} (here: {_show(c, values)})" for c in step.checks if not c.holds(values)]
            outcome = StepOutcome(i, step, met, max(lane.trainer.iteration for lane in session.lanes) - start, failed)
            outcomes.append(outcome)
            if on_step is not None:
                on_step(outcome, session)
    finally:
        if own:
            session.close()
    return outcomes


def _wait(session, step: Step, every: int) -> bool:
    cond = step.until
    if cond is None:
        return True
    if cond.fit_done:
        trained = 0
        while session.state == "fitting" and trained < 200000:
            trained += max(1, session.advance(0.05))
        return session.state != "fitting"
    session.measure(views=False)
    done = 0
    while True:
        if cond.holds(frame_values(session.frame())):
            return True
        if done >= step.budget or all(lane.state == "diverged" for lane in session.lanes):
            return False
        n = min(every, step.budget - done)
        session.run(n, n)
        done += n


def _show(cond: Condition, values) -> str:
    if cond.fit_done:
        return "still fitting"
    return f"{cond.left.value(values):.4g} {cond.op} {cond.right.value(values):.4g}"
