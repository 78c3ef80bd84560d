"""Checks shared by several test modules: lanes trained in one batched step against lone Trainers."""

from ganviz.core.config import TrainConfig
from ganviz.core.session import Session
from ganviz.core.trainer import Trainer


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def max_diff(a, b):
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


def batched_and_lone(cfgs: list[TrainConfig]) -> tuple[Session, list[Trainer]]:
    """A Session of `cfgs` whose lanes share one batched group, and one lone Trainer per config (the same
    seeds, so the same random streams)."""
    lone = [Trainer(c) for c in cfgs]
    session = Session(cfgs)
    assert len(session.groups()) == 1  # one architecture: one batched group
    return session, lone


def train_both(session: Session, lone: list[Trainer], iterations: int) -> None:
    """`iterations` of Algorithm 1 on every lone Trainer and on the session's batched lanes."""
    for trainer in lone:
        trainer.step(iterations)
    session._train(iterations)


def assert_lanes_end_as_lone(session: Session, lone: list[Trainer], tolerance: float,
                             networks: tuple[str, ...] = ("G", "D")) -> None:
    """Each lane has made as many D and G updates as its lone Trainer, and its `networks` hold the same
    weights, parameter by parameter within `tolerance` (float rounding of the batched arithmetic)."""
    assert len(session.lanes) == len(lone)
    for trainer, lane in zip(lone, session.lanes):
        batched = lane.trainer
        assert (batched.d_updates, batched.g_updates) == (trainer.d_updates, trainer.g_updates), lane.id
        for name in networks:
            diff = max_diff(params(getattr(trainer, name)), params(getattr(batched, name)))
            assert diff < tolerance, f"lane {lane.id} {name}: batched and lone differ by {diff:.3g} (≥ {tolerance})"
