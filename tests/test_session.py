"""The Session: each lane is Algorithm 1 with its own settings, batched lanes update exactly as lone
trainers would, live changes touch one lane only, Fit D* gives the user's settings back, exact resume."""

import math

import pytest
import torch

from ganviz.core import modes
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.lanes import BatchedGroup, SequentialGroup
from ganviz.core.session import Session, lane_label, varying
from tests._helpers import assert_lanes_end_as_lone, batched_and_lone, max_diff, params, train_both


def cfg1d(**kw):
    return TrainConfig.for_mode("1d", **kw)


@pytest.mark.parametrize("mode", [m for m, spec in modes.REGISTRY.items() if spec.batchable])
def test_batched_lanes_update_as_lone_trainers(mode):
    """Three lanes with their own k, loss, learning rate and seed, trained in one batched step,
    end where three lone Trainers end (same random streams, float tolerance)."""
    base = TrainConfig.for_mode(mode)
    cfgs = [base.replace(seed=0), base.replace(seed=1, k=3, loss="minimax"), base.replace(seed=2, k=2, lr_d=1e-3)]
    session, lone = batched_and_lone(cfgs)
    assert isinstance(session._ensure_groups()[0], BatchedGroup)
    for t in lone:
        t.step(1)
    session.step(1)
    assert_lanes_end_as_lone(session, lone, 1e-6)
    train_both(session, lone, 20)
    assert_lanes_end_as_lone(session, lone, 1e-4, networks=("G",))
    assert [(t.d_updates, t.g_updates) for t in lone] == [(21 * t.cfg.k, 21) for t in lone]


def test_architectures_train_in_separate_groups():
    session = Session([cfg1d(), cfg1d(k=2), cfg1d(hidden=16)])
    groups = sorted(session.groups(), key=len)
    assert groups == [[2], [0, 1]]
    assert any(isinstance(g, SequentialGroup) for g in session._ensure_groups())


def test_live_change_touches_one_lane_and_keeps_optimizer_state():
    session = Session([cfg1d(), cfg1d(seed=5)])
    session.step(10)
    a, b = session.lanes
    session._sync_state()
    moments = {id(p): s["exp_avg"].clone() for p, s in a.trainer.opt_d.state.items()}
    session.set(a.id, lr_d=1e-3, k=4, loss="minimax")
    assert (a.cfg.lr_d, a.cfg.k, a.cfg.loss) == (1e-3, 4, "minimax")
    assert (b.cfg.lr_d, b.cfg.k, b.cfg.loss) == (3e-4, 1, "nonsaturating")
    session._sync_state()
    for p, s in a.trainer.opt_d.state.items():  # Adam's moments were not reset by the change
        assert torch.equal(s["exp_avg"], moments[id(p)])
    before = b.trainer.iteration
    session.step(2)
    assert a.trainer.d_updates == 10 + 2 * 4 and b.trainer.d_updates == before + 2


def test_seed_change_is_a_new_run_of_that_lane_only():
    session = Session([cfg1d(), cfg1d(k=2)])
    session.step(5)
    first = session.lanes[0].id
    session.set(session.lanes[1].id, seed=9)
    assert session.lanes[1].trainer.iteration == 0 and session.lanes[1].cfg.seed == 9
    assert session.lanes[0].trainer.iteration == 5 and session.lanes[0].id == first


def test_shared_settings_are_refused_per_lane_and_the_last_lane_stays():
    session = Session(cfg1d())
    with pytest.raises(ConfigError, match="dataset"):
        session.set(session.lanes[0].id, dataset="gaussian")
    with pytest.raises(ValueError):
        session.remove_lane(session.lanes[0].id)
    with pytest.raises(ConfigError):
        Session([cfg1d(), TrainConfig.for_mode("1d", dataset="gaussian")])


def test_add_and_remove_lanes_regroup():
    session = Session(cfg1d())
    new = session.add_lane(k=3)
    assert session.lane(new).cfg.k == 3 and session.lane(new).trainer.iteration == 0
    session.step(3)
    kept = session.lanes[0]
    w = params(kept.trainer.G)
    session.remove_lane(new)
    assert [lane.id for lane in session.lanes] == [kept.id]
    assert max_diff(w, params(kept.trainer.G)) == 0.0  # weights survive leaving the batched group
    session.step(2)
    assert kept.trainer.iteration == 5


def test_labels_name_what_differs():
    cfgs = [cfg1d(), cfg1d(k=5, lr_d=1e-3)]
    keys = varying(cfgs)
    assert keys == ["k", "lr_d"]
    assert lane_label(cfgs[1], keys) == "k = 5, lr_D 0.001"
    assert lane_label(cfgs[0], varying(cfgs[:1])) == ""


def test_fit_d_star_on_every_lane_and_settings_given_back():
    session = Session([cfg1d(), cfg1d(seed=1)])
    session._train(200)
    session.fit_d_star()
    assert all(lane.trainer.g_frozen for lane in session.lanes)
    session.advance()
    session.set(session.lanes[0].id, lr_d=1e-3)  # a change during the fit is the user's (qa case 5)
    g_before = [lane.trainer.g_updates for lane in session.lanes]
    while session.state == "fitting":
        session.advance(0.05)
    assert [lane.trainer.g_updates for lane in session.lanes] == g_before  # G stayed frozen
    for lane in session.lanes:
        assert not lane.trainer.g_frozen and lane.trainer.lr_scale_d == 1.0
        assert lane.trainer.opt_d.param_groups[0]["lr"] == lane.cfg.lr_d
        jsd, bound = lane.log.last()["jsd"], lane.log.last()["jsd_d"]
        assert abs(jsd - bound) < 0.1 * jsd + 0.01  # the bound meets the JSD
    assert session.lanes[0].cfg.lr_d == 1e-3
    assert "Fit D* done" in session.message


def test_reset_after_fit_trains_g_again():
    """qa case 4: Fit D*, then Reset, then Play: G must train."""
    session = Session(cfg1d())
    session.fit_d_star()
    session.advance()
    session.reset()
    session.step(3)
    assert session.lanes[0].trainer.g_updates == 3


def test_play_advances_every_lane_and_publishes_typed_frames():
    session = Session([cfg1d(), cfg1d(k=2), cfg1d(hidden=16)])
    session.play()
    while min(lane.trainer.iteration for lane in session.lanes) < 20:
        session.advance()
    frame = session.publish(budget=1.0)
    assert frame.state == "running" and len(frame.lanes) == 3
    assert all(lane.iteration >= 20 and math.isfinite(lane.metrics["jsd"]) for lane in frame.lanes)
    assert len({lane.iteration for lane in frame.lanes}) == 1  # lanes train in lockstep
    assert frame.lanes[1].label == "k = 2, hidden 32"
    session.pause()
    assert session.advance() == 0


def test_diverged_lane_stops_alone():
    session = Session([cfg1d(), cfg1d(seed=1)])
    bad = session.lanes[1]
    with torch.no_grad():
        next(bad.trainer.G.parameters()).fill_(float("nan"))
    session.step(1)
    assert bad.state == "diverged" and session.lanes[0].state == "ok"
    session.step(2)
    assert session.lanes[0].trainer.iteration == 3 and bad.trainer.iteration == 1
    session.reset()
    assert bad.state == "ok"


def test_exact_resume_of_batched_lanes(tmp_path):
    cfgs = [cfg1d(seed=3), cfg1d(seed=3, k=2)]
    rows_straight, rows_resumed = [], []
    straight = Session(cfgs)
    straight.on_row.append(lambda lane, row: rows_straight.append((lane.id, row)))
    straight.run(200, 50)
    first = Session(cfgs)
    first.on_row.append(lambda lane, row: rows_resumed.append((lane.id, row)))
    first.run(100, 50)
    first.save(tmp_path / "run")
    second = Session.load(tmp_path / "run")
    assert [lane.trainer.iteration for lane in second.lanes] == [100, 100]
    second.on_row.append(lambda lane, row: rows_resumed.append((lane.id, row)))
    second.run(100, 50)
    assert rows_resumed == rows_straight  # bit for bit, every metric of every row


def test_configure_keeps_the_session_when_the_new_target_fails():
    session = Session([cfg1d(), cfg1d(k=3)])
    with pytest.raises(ConfigError):
        session.configure(dataset="no-such-target")
    assert [lane.cfg.dataset for lane in session.lanes] == ["bimodal", "bimodal"]
    session.configure(dataset="gaussian")
    assert [(lane.cfg.dataset, lane.cfg.k) for lane in session.lanes] == [("gaussian", 1), ("gaussian", 3)]
    session.configure(mode="2d")
    assert session.mode == "2d" and len(session.lanes) == 1


def test_errors_keep_their_traceback():
    session = Session(cfg1d())
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        session.error("training stopped: boom")
    entry = session.frame().log[-1]
    assert entry.text == "training stopped: boom" and "RuntimeError: boom" in entry.traceback


def test_speed_limit_holds_each_lane_to_its_rate(monkeypatch):
    """Slow motion: with 30 iterations/s, advance() trains only what is due by the clock."""
    import ganviz.core.session as session_module

    now = [100.0]
    monkeypatch.setattr(session_module.time, "perf_counter", lambda: now[0])
    session = Session([cfg1d(), cfg1d(k=2)])
    session.set_speed(30.0)
    session.play()
    assert session.advance() == 0  # nothing due yet
    now[0] += 0.5
    done = 0
    while (n := session.advance(1.0)) > 0:
        done += n
    assert done == 15 and all(lane.trainer.iteration == 15 for lane in session.lanes)
    now[0] += 0.25  # 0.75 s in all: 22 iterations due
    assert session.advance(1.0) == 7
    with pytest.raises(ValueError):
        session.set_speed(float("nan"))
