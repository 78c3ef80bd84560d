"""The "Copy command" lines: a lane as `ganviz train …`, a full grid of lanes as `ganviz sweep …`."""

import shlex

from ganviz.core.command_line import session_command, train_command
from ganviz.core.config import TrainConfig


def test_train_command_lists_what_differs_from_the_mode_defaults():
    cfg = TrainConfig.for_mode("1d", k=5, lr_d=1e-3, loss="minimax", noise_dim=1, seed=3, steps=1200)
    line = train_command(cfg)
    args = shlex.split(line)
    assert args[:2] == ["ganviz", "train"]
    pairs = dict(zip(args[2::2], args[3::2]))
    assert pairs["--mode"] == "1d" and pairs["--dataset"] == "bimodal"
    assert pairs["--seed"] == "3" and pairs["--steps"] == "1200"
    assert pairs["--k"] == "5" and float(pairs["--lr-d"]) == 1e-3 and pairs["--loss"] == "minimax"
    assert pairs["--noise-dim"] == "1"
    assert "--lr-g" not in args and "--batch" not in args and "--hidden" not in args  # defaults are left out
    assert args[-2] == "--out" and args[-1].startswith("runs/1d-bimodal")


def test_train_command_defaults_only_and_flags():
    line = train_command(TrainConfig.for_mode("2d"))
    assert line.startswith("ganviz train --mode 2d --dataset ring8 --steps 10000 --seed 2 --out runs/")
    frozen = train_command(TrainConfig.for_mode("1d", freeze_g=True))
    assert " --freeze-g " in frozen and "--freeze-g True" not in frozen


def test_train_command_quotes_paths():
    line = train_command(TrainConfig.for_mode("2d", dataset="/tmp/my points.csv"))
    assert shlex.split(line)[shlex.split(line).index("--dataset") + 1] == "/tmp/my points.csv"


def test_a_full_grid_becomes_one_sweep_line():
    base = TrainConfig.for_mode("1d", steps=500)
    cfgs = [base.replace(k=k, lr_d=lr) for k in (1, 5) for lr in (1e-4, 1e-3)]
    line = session_command(cfgs)
    args = shlex.split(line)
    assert args[:2] == ["ganviz", "sweep"]
    assert "--grid" in args and "k=1,5" in args and "lr_d=0.0001,0.001" in args
    assert "--k" not in args and "--lr-d" not in args
    assert args[args.index("--steps") + 1] == "500" and args[args.index("--mode") + 1] == "1d"
    assert args[-2] == "--out" and args[-1].startswith("runs/")


def test_consecutive_seeds_use_seeds_and_other_seeds_a_grid():
    base = TrainConfig.for_mode("1d")
    assert "--seeds 0-4" in session_command([base.replace(seed=s) for s in range(5)])
    assert "--grid seed=1,7" in session_command([base.replace(seed=s) for s in (7, 1)])


def test_lanes_that_are_not_a_full_grid_give_one_train_line_each():
    base = TrainConfig.for_mode("1d")
    cfgs = [base, base.replace(k=5), base.replace(k=5, lr_d=1e-3)]  # (1, 3e-4), (5, 3e-4), (5, 1e-3): not a grid
    lines = session_command(cfgs).splitlines()
    assert lines == [train_command(c) for c in cfgs]
    assert session_command([base]) == train_command(base)
    assert session_command([base, base]).count("ganviz train") == 2  # identical lanes: no grid varies
