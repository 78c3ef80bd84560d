"""The README's figures for "G against the exact D*" (THEORY.md §7): JSD descent under the oracle vs the network D.

    python tools/oracle_figures.py                  # both tables, seeds 0-2 (minutes on the 2-core machine)
    python tools/oracle_figures.py --seeds 0 --steps 500

Descent: the 1-D `gaussian` and `bimodal` targets with the mode's default settings (non-saturating loss), the
JSD at --at iterations, G trained against the network D and against the exact D*. Disjoint supports: the
`gaussian` target N(2, 0.5²) with G's output bias moved by --shift (G(z) near 2 + shift, where p_data is
~0), both generator losses, each against the network D and the exact D*: the JSD and the mean of G(z).
One torch thread; prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from ganviz.core.config import TrainConfig
from ganviz.core.trainer import Trainer


def run(cfg: TrainConfig, at: list[int], shift: float = 0.0) -> dict:
    trainer = Trainer(cfg)
    if shift:
        with torch.no_grad():
            trainer.G.net[-1].bias += shift  # the whole of P_G moved, far from the data
    eval_noise = trainer.task.sample_noise(4096, torch.Generator().manual_seed(99))
    row: dict = {"dataset": cfg.dataset, "loss": cfg.loss, "seed": cfg.seed, "d_oracle": cfg.d_oracle,
                 "shift": shift, "jsd": {}, "mean_g": {}}
    start = time.perf_counter()
    done = 0
    for step in [0, *at]:
        trainer.step(step - done)
        done = step
        row["jsd"][step] = round(trainer.evaluate(views=False).metrics["jsd"], 4)
        with torch.no_grad():
            row["mean_g"][step] = round(float(trainer.G(eval_noise).mean()), 3)
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--at", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--shift", type=float, default=-4.0)
    parser.add_argument("--only", choices=("descent", "disjoint"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.only != "disjoint":
        for dataset in ("gaussian", "bimodal"):
            for seed in args.seeds:
                for oracle in (False, True):
                    cfg = TrainConfig.for_mode("1d", dataset=dataset, seed=seed, d_oracle=oracle)
                    print(json.dumps(run(cfg, args.at)), flush=True)
    if args.only != "descent":
        for loss in ("minimax", "nonsaturating"):
            for oracle in (False, True):
                cfg = TrainConfig.for_mode("1d", dataset="gaussian", seed=args.seeds[0], loss=loss, d_oracle=oracle)
                print(json.dumps(run(cfg, args.at, args.shift)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
