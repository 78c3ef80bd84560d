"""How far training gets, over several seeds: the figures the README quotes for the defaults.

    python tools/convergence.py                                  # 1-D bimodal, defaults, seeds 0-9
    python tools/convergence.py --dataset trimodal --steps 5000
    python tools/convergence.py noise_dim=1 lr_d=1e-3 lr_g=1e-3  # any TrainConfig field=value

For each seed: the first iteration at which the JSD is below --threshold, the median JSD over the
second half of the run, the share of evaluations after --settled that are below the threshold,
and the JSD at the end. Evaluations every --every iterations; one torch thread.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import time

import torch

from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.trainer import Trainer


def parse_override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected field=value, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a plain string such as uniform


def seeds(text: str) -> list[int]:
    lo, sep, hi = text.partition("-")
    return list(range(int(lo), int(hi) + 1)) if sep else [int(s) for s in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="1d")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--steps", type=int, default=None, help="default: the mode's default run length")
    parser.add_argument("--seeds", type=seeds, default=list(range(10)), help="e.g. 0-9 or 0,3,5")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--settled", type=int, default=2000, help="count the share below from this iteration")
    parser.add_argument("overrides", nargs="*", type=parse_override, help="TrainConfig field=value")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        base = TrainConfig.for_mode(args.mode, dataset=args.dataset, steps=args.steps, **dict(args.overrides))
    except (ConfigError, TypeError) as exc:
        print(f"convergence: {exc}", file=sys.stderr)
        return 2
    print(f"{base.mode} {base.dataset}: noise_dim {base.noise_dim}, lr_d {base.lr_d:g}, lr_g {base.lr_g:g}, "
          f"batch {base.batch}, G/D {base.layers}×{base.hidden}, {base.steps} iterations, JSD every {args.every}")
    print("seed  first<thr  median(2nd half)  share<thr after settled  final")
    firsts, finals = [], []
    start = time.perf_counter()
    for seed in args.seeds:
        trainer = Trainer(base.replace(seed=seed))
        trace = []
        while trainer.iteration < base.steps:
            trainer.step(min(args.every, base.steps - trainer.iteration))
            trace.append((trainer.iteration, trainer.evaluate(views=False).metrics["jsd"]))
        first = next((it for it, j in trace if j < args.threshold), None)
        second_half = [j for it, j in trace if it > base.steps / 2]
        settled = [j for it, j in trace if it >= args.settled]
        share = sum(j < args.threshold for j in settled) / len(settled) if settled else float("nan")
        firsts.append(first)
        finals.append(trace[-1][1])
        print(f"{seed:4d}  {first if first is not None else 'never':>9}  {statistics.median(second_half):16.4f}  "
              f"{share:25.0%}  {trace[-1][1]:.4f}", flush=True)
    reached = [f for f in firsts if f is not None]
    print(f"{len(reached)}/{len(firsts)} seeds below {args.threshold:g} nats"
          + (f", the last of them at iteration {max(reached)}" if reached else "")
          + f"; final JSD median {statistics.median(finals):.4f}, worst {max(finals):.4f} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
