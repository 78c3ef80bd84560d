"""`ganviz sweep`: a grid of lanes in one Session, its folders, summary.csv and compare.png; bad grids
and grids too large for memory are refused before anything is written."""

import csv
import json

import pytest

from ganviz.cli import main


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_exit(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def test_sweep_writes_each_lane_a_summary_and_a_compare_plot(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--mode", "1d", "--grid", "k=1,5", "--grid", "lr_d=1e-4,1e-3", "--steps", "100",
                 "--log-every", "50", "--seed", "3", "--out", str(out)]) == 0
    names = ["k=1_lr_d=0.0001", "k=1_lr_d=0.001", "k=5_lr_d=0.0001", "k=5_lr_d=0.001"]
    for name in names:
        folder = out / name
        rows = read_csv(folder / "metrics.csv")
        assert [r["step"] for r in rows] == ["0", "50", "100"]
        cfg = json.loads((folder / "config.json").read_text())
        assert f"k={cfg['k']}_lr_d={cfg['lr_d']!r}" == name and cfg["seed"] == 3 and cfg["steps"] == 100
        assert (folder / "final.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = read_csv(out / "summary.csv")
    assert list(summary[0]) == ["lane", "k", "lr_d", "final_jsd", "best_jsd", "final_jsd_d", "best_jsd_d",
                                "final_kl", "best_kl", "final_d_loss", "best_d_loss", "final_g_loss",
                                "best_g_loss", "first_below_jsd_0.05", "state"]
    assert [r["lane"] for r in summary] == names
    assert [(r["k"], r["lr_d"]) for r in summary] == [("1", "0.0001"), ("1", "0.001"), ("5", "0.0001"),
                                                      ("5", "0.001")]
    for r, name in zip(summary, names):
        jsd = [float(x["jsd"]) for x in read_csv(out / name / "metrics.csv")]
        assert float(r["final_jsd"]) == jsd[-1] and float(r["best_jsd"]) == min(jsd)
        assert r["first_below_jsd_0.05"] == "" and r["state"] == "ok"  # 100 iterations do not converge
    png = (out / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert (out / "checkpoint" / "run.json").is_file()
    assert not (out / ".ganviz.lock").exists()
    assert "4 lanes" in capsys.readouterr().err


def test_lanes_of_a_sweep_equal_single_runs(tmp_path):
    """A lane of the sweep writes the rows `ganviz train` writes for the same settings (batched lanes
    are each Algorithm 1 with its own settings; equal within float tolerance)."""
    out = tmp_path / "sweep"
    assert main(["sweep", "--seeds", "0,4", "--steps", "60", "--log-every", "30", "--out", str(out)]) == 0
    assert main(["train", "--seed", "4", "--steps", "60", "--log-every", "30", "--out", str(tmp_path / "one")]) == 0
    lane = read_csv(out / "seed=4" / "metrics.csv")
    alone = read_csv(tmp_path / "one" / "metrics.csv")
    assert [r["step"] for r in lane] == [r["step"] for r in alone]
    for a, b in zip(lane, alone):
        assert float(a["jsd"]) == pytest.approx(float(b["jsd"]), abs=1e-4)


@pytest.mark.parametrize("grid, words", [
    (["--grid", "nosuch=1,2"], "unknown key"),
    (["--grid", "dataset=bimodal,trimodal"], "shared"),
    (["--grid", "k="], "empty"),
    (["--grid", "k=1,,5"], "empty"),
    (["--grid", "k"], "KEY=V1"),
    (["--grid", "k=0,5"], "k=0"),
    (["--grid", "k=1,x"], "not a int"),
    (["--grid", "lr_d=1e-3,nan"], "lr_d=nan"),
    (["--grid", "loss=minimax,wasserstein"], "loss"),
    (["--grid", "k=1,5", "--grid", "k=2,3"], "twice"),
    (["--grid", "k=1,1"], "repeated"),
    (["--grid", "k=1,5", "--k", "2"], "also given"),
    (["--seeds", "4-2"], "--seeds"),
    (["--seeds", "0,x"], "--seeds"),
    (["--seeds", "0-3", "--grid", "seed=1,2"], "--seeds"),
    ([], "--grid"),
])
def test_bad_grid_specs_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, grid, words):
    out = tmp_path / "never"
    assert run_exit(["sweep", *grid, "--steps", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert ("--grid" in err or "--seeds" in err) and words in err
    assert not out.exists()


def test_a_grid_larger_than_memory_is_refused_before_building_anything(tmp_path, capsys, monkeypatch):
    from ganviz import sweep
    from ganviz.core.session import Session

    built = []

    def build(self, *args, **kwargs):
        built.append(args)
        raise AssertionError("a session was built")

    monkeypatch.setattr(Session, "__init__", build)
    monkeypatch.setattr(sweep, "available_memory", lambda: 512 << 20)
    out = tmp_path / "never"
    assert main(["sweep", "--grid", "hidden=1024,2048", "--seeds", "0-99", "--steps", "10",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--grid" in err and "200 lanes need about" in err and "GiB" in err
    assert not built and not out.exists()
    # and a hard cap whatever the memory
    monkeypatch.setattr(sweep, "available_memory", lambda: 1 << 50)
    assert main(["sweep", "--grid", "k=1,2", "--seeds", "0-4095", "--steps", "10", "--out", str(out)]) == 2
    assert "8192 lanes is more than the 4096" in capsys.readouterr().err
    assert not built and not out.exists()


def test_a_sweep_folder_is_not_overwritten_without_overwrite(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", "--grid", "k=1,2", "--steps", "20", "--log-every", "10", "--out", str(out)]
    assert main(args) == 0
    before = (out / "summary.csv").read_bytes()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "summary.csv").read_bytes() == before
    assert main([*args, "--overwrite"]) == 0


def test_a_loss_in_the_grid_brings_its_settings_unless_given(tmp_path):
    out = tmp_path / "losses"
    assert main(["sweep", "--grid", "loss=nonsaturating,wgan-gp", "--lr-g", "2e-4", "--steps", "2",
                 "--log-every", "1", "--hidden", "8", "--out", str(out)]) == 0
    configs = {json.loads(p.read_text())["loss"]: json.loads(p.read_text()) for p in out.glob("*/config.json")}
    gp, ns = configs["wgan-gp"], configs["nonsaturating"]
    assert (gp["k"], gp["beta1"], gp["beta2"], gp["lr_d"]) == (5, 0.0, 0.9, 1e-4)
    assert gp["lr_g"] == ns["lr_g"] == 2e-4  # given on the command line: kept
    assert (ns["k"], ns["beta1"]) == (1, 0.5)
