"""Step D / Step G, slow motion through Algorithm 1, Fit D* spans, divergence beyond NaN (headless)."""

import time

import torch

from ganviz.core.config import TrainConfig
from ganviz.core.session import Session, fit_message


def _weights(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(before, module):
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_step_d_changes_only_d_and_step_g_only_g_on_batched_lanes():
    s = Session([TrainConfig.for_mode("1d", seed=0), TrainConfig.for_mode("1d", seed=1, k=2)])
    s.step(2)  # the lanes train in one batched group first
    for lane in s.lanes:
        lane.g0, lane.d0 = _weights(lane.trainer.G), _weights(lane.trainer.D)
    s.step_d()
    for lane in s.lanes:
        t = lane.trainer
        assert _same(lane.g0, t.G) and not _same(lane.d0, t.D)
        assert t.iteration == 2 and t.d_phase == 1 and t.d_updates == 2 * t.cfg.k + 1
        assert lane.phase.startswith(f"D update 1 of {t.cfg.k}: ascend V(G,D)")
        lane.d1 = _weights(t.D)
    s.step_g()
    for lane in s.lanes:
        t = lane.trainer
        assert _same(lane.d1, t.D) and not _same(lane.g0, t.G)
        assert t.iteration == 3 and t.d_phase == 0 and t.g_updates == 3
    assert "had 1 of k = 2 D updates" in s.lanes[1].phase
    s.step(1)  # whole iterations again, batched
    assert [lane.trainer.iteration for lane in s.lanes] == [4, 4]


def test_slow_motion_shows_each_phase_in_order():
    s = Session(TrainConfig.for_mode("1d", seed=0, k=2))
    s.publish()  # the first picture: the first phase's ghost
    s.set_slow_motion(1000.0)
    s.play()
    seen = []
    while len(seen) < 6:
        if s.advance():
            f = s.frame().lanes[0]
            seen.append(f.phase.split(":")[0])
            assert f.ghost is not None and f.phase_kind in ("d", "g")
        time.sleep(0.0012)
    assert seen == ["D update 1 of 2", "D update 2 of 2", "G update"] * 2
    assert s.lanes[0].trainer.iteration == 2
    s.set_slow_motion(None)
    s.step(1)
    assert s.frame().lanes[0].phase == "" and s.frame().lanes[0].ghost is None


def test_fit_d_star_counts_d_updates_not_iterations():
    s = Session(TrainConfig.for_mode("1d", seed=0))
    s.step(20)
    s.fit_d_star()
    for _ in range(3):
        s.advance(seconds=0.05)
    s.pause()
    f = s.frame().lanes[0]
    assert f.iteration == 20
    assert len(f.fit_spans) == 1 and f.fit_spans[0][0] == 20 and f.fit_spans[0][1] > 0
    d = f.fit_spans[0][1]
    s.step(5)
    f = s.frame().lanes[0]
    assert f.iteration == 25 and f.fit_spans == ((20, d),)


def test_fit_message_explains_a_gap():
    cfg = TrainConfig.for_mode("1d", noise_dim=1)
    text = fit_message({"jsd": 0.0743, "jsd_d": 0.0058}, cfg)
    assert "lower bound" in text and "cannot represent D*" in text and "Try:" in text
    assert "cannot represent" not in fit_message({"jsd": 0.1, "jsd_d": 0.098}, cfg)
    # 2-D: V's cells are coarser than the JSD's, so even D* leaves up to BOUND_CELLS_GAP; beyond that, a miss
    from ganviz.core.toy2d import BOUND_CELLS_GAP
    cfg2 = TrainConfig.for_mode("2d")
    assert "cannot represent" not in fit_message({"jsd": 0.2, "jsd_d": 0.2 * (1 - BOUND_CELLS_GAP)}, cfg2, BOUND_CELLS_GAP)
    assert "cannot represent" in fit_message({"jsd": 0.2, "jsd_d": 0.1}, cfg2, BOUND_CELLS_GAP)


def test_finite_blow_up_pauses_the_lane_and_reset_with_defaults():
    s = Session(TrainConfig.for_mode("2d", seed=0, lr_d=0.5, k=3))
    s.step(2)
    picture = s.lanes[0].picture
    with torch.no_grad():
        for p in s.lanes[0].trainer.G.parameters():
            p.mul_(1e6)
    s.step(1)
    f = s.frame().lanes[0]
    assert f.state == "diverged" and f.diverged_kind == "range" and "diverged at iteration 3" in f.message
    assert f.picture is picture  # the last good picture stays visible
    s.play()
    assert s.state == "paused"
    s.reset_defaults()
    f = s.frame().lanes[0]
    assert f.state == "ok" and f.cfg.lr_d == TrainConfig.for_mode("2d").lr_d and f.cfg.k == 1
    assert f.cfg.dataset == "ring8"
