"""The README's real-data check: `python tools/own_data_check.py` (6.6 min on the shared, loaded 2-core machine; 70 s of CPU).

Writes two small realistic data sets (synthesised here, nothing downloaded) as CSV files with a
header, trains the default 2-D GAN on each with `ganviz train --points FILE --samples N`, and
compares the energy distance between the generated samples and the data with that of a single
Gaussian fitted to the data (maximum likelihood: the data's mean and covariance) and that of exact
samples of P_data itself (the KDE the GAN is trained on: the best a generator can do here). The
energy distance is measured in the data's standardised units (each column divided by its std), so
that both columns count whatever their units. Also the window's JSD noise floor on each KDE target.

  faithful: an "Old Faithful"-like set, 272 eruptions: duration (min, 1.6–5.1) and waiting time
            to the next eruption (min, ~40–95), in two clusters (35% short-and-soon, 65% long-and-late).
  housing:  300 homes: floor area (m², log-normal, ~40–270) and price (~1.6e5–1.1e6, proportional to
            the area with log-normal noise): one skewed, correlated cloud, spreads ~4,700× apart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def faithful(rng: np.random.Generator, n: int = 272) -> tuple[tuple[str, str], np.ndarray]:
    short = rng.random(n) < 0.35
    duration = np.where(short, rng.normal(2.04, 0.27, n), rng.normal(4.29, 0.41, n))
    # within a cluster a longer eruption is followed by a slightly longer wait
    waiting = np.where(short, 54.5 + 4.0 * (duration - 2.04) / 0.27 * 0.3 + rng.normal(0, 5.6, n),
                       80.0 + 5.9 * (duration - 4.29) / 0.41 * 0.3 + rng.normal(0, 5.6, n))
    return ("eruptions", "waiting"), np.column_stack((np.round(np.clip(duration, 1.6, 5.1), 3), np.round(waiting)))


def housing(rng: np.random.Generator, n: int = 300) -> tuple[tuple[str, str], np.ndarray]:
    area = np.exp(rng.normal(np.log(100.0), 0.35, n))
    price = 20_000 + 4_000 * area * np.exp(rng.normal(0.0, 0.2, n))
    return ("area_m2", "price"), np.column_stack((np.round(area, 1), np.round(price, -3)))


DATA_SETS = {"faithful": faithful, "housing": housing}


def write_csv(path: Path, names: tuple[str, ...], points: np.ndarray) -> None:
    lines = [",".join(names)] + [",".join(f"{v:.12g}" for v in row) for row in points]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_samples(path: Path) -> tuple[list[str], np.ndarray]:
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def check(name: str, steps: int, seed: int, draws: int, m: int, folder: Path) -> dict:
    from ganviz.cli import main as ganviz
    from ganviz.core.config import TrainConfig
    from ganviz.core.points import Standardisation, energy_distance
    from ganviz.core.toy2d import EVAL_SAMPLES, Toy2DTask

    import torch

    names, data = DATA_SETS[name](np.random.default_rng(seed))
    csv = folder / f"{name}.csv"
    write_csv(csv, names, data)
    out = folder / f"run_{name}"
    status = ganviz(["train", "--mode", "2d", "--points", str(csv), "--steps", str(steps), "--seed", str(seed), "--samples",
                     str(draws * m), "--out", str(out), "--overwrite"])
    if status != 0:
        raise SystemExit(f"ganviz train failed on {name} (exit {status})")
    header, generated = read_samples(out / "samples.csv")
    units = Standardisation.of(data)
    z = units.to_standard(data)

    def ed(points: np.ndarray) -> float:
        return energy_distance(units.to_standard(points), z)

    rng = np.random.default_rng(seed + 1)
    mean, cov = data.mean(axis=0), np.cov(data, rowvar=False, bias=True)
    task = Toy2DTask(TrainConfig.for_mode("2d", dataset=str(csv)), torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    kde = [task.to_data(task.sample_real(m, gen).double().numpy()) for _ in range(draws)]
    floor = max(task.jsd_of_samples(task.sample_real(EVAL_SAMPLES, torch.Generator().manual_seed(s)))
                for s in range(5))
    result = {
        "n": len(data), "header": header,
        "gan": [ed(generated[i * m:(i + 1) * m]) for i in range(draws)],
        "gaussian": [ed(rng.multivariate_normal(mean, cov, m)) for _ in range(draws)],
        "kde": [ed(points) for points in kde],
        "jsd_floor": floor,
        "metrics": (out / "metrics.csv").read_text(encoding="utf-8").splitlines()[-1],
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000, help="iterations (default 10,000: the 2-D default)")
    parser.add_argument("--seed", type=int, default=2, help="the data's and the run's seed (default 2, the 2-D default)")
    parser.add_argument("--draws", type=int, default=5, help="sample sets per model (mean ± sd reported)")
    parser.add_argument("--m", type=int, default=2000, help="samples per set (default 2000)")
    parser.add_argument("--only", choices=list(DATA_SETS), nargs="*", help="data sets to check (default: all)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"energy distance to the data (standardised units), {args.draws} sets of {args.m} samples, "
              f"{args.steps} iterations, seed {args.seed}")
        print(f"{'data':10} {'n':>4}  {'GAN':>16}  {'Gaussian fit':>16}  {'P_data (KDE)':>16}  JSD floor")
        for name in args.only or DATA_SETS:
            r = check(name, args.steps, args.seed, args.draws, args.m, Path(tmp))
            cells = [f"{np.mean(r[k]):.4f} ± {np.std(r[k]):.4f}" for k in ("gan", "gaussian", "kde")]
            print(f"{name:10} {r['n']:>4}  {cells[0]:>16}  {cells[1]:>16}  {cells[2]:>16}  {r['jsd_floor']:.4f}"
                  f"   (samples.csv header: {','.join(r['header'])}; last metrics row: {r['metrics']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
