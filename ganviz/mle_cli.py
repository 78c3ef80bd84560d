"""The `ganviz mle` command: fit the maximum-likelihood baseline (THEORY.md §6) and print it as one JSON line.

ganviz/cli.py adds it with `add_mle_parser(sub)` and runs it with `mle_command(args)`.
"""

from __future__ import annotations

import argparse
import json
import sys

from ganviz.core.config import ConfigError
from ganviz.core.mle import COMPONENTS_MAX, COMPONENTS_MIN, MLE_MODES, SAMPLES, mle_baseline

PROG = "ganviz mle"
EXIT_USAGE = 2


def add_mle_parser(sub) -> argparse.ArgumentParser:
    """Add the `mle` subcommand to the subparsers `sub` (from add_subparsers) and return its parser."""
    mle = sub.add_parser(
        "mle", help="fit a Gaussian mixture to P_data by maximum likelihood (EM); print KL, reverse KL and JSD",
        description="Fit a mixture of K Gaussians to samples of P_data by EM: maximum likelihood, i.e. minimum "
                    "KL(P_data || P_MLE) (THEORY.md §6). Prints one JSON line: weights, means, covariances "
                    "(1d: means and variances as flat lists), kl = KL(P_data || P_MLE), kl_rev = "
                    "KL(P_MLE || P_data) and jsd, in nats, on the grid the GAN is measured on.")
    mle.add_argument("--mode", default="1d", help=f"{' or '.join(MLE_MODES)} (default 1d)")
    mle.add_argument("--dataset", help="target (default: the mode's default): 1d: gaussian, bimodal, trimodal, "
                                       "skewed, heavytail; 2d: ring8, grid25, moons, spiral, gaussian or a "
                                       ".csv/.npy of points")
    mle.add_argument("--components", type=int, required=True,
                     help=f"K, the number of Gaussians ({COMPONENTS_MIN}-{COMPONENTS_MAX})")
    mle.add_argument("--seed", type=int, default=0, help="seed of the samples of P_data and of EM's starts (default 0)")
    mle.add_argument("--samples", type=int, default=SAMPLES, help=f"samples of P_data to fit (default {SAMPLES})")
    return mle


def mle_command(args: argparse.Namespace) -> int:
    """Print the fit as one JSON line; 0, or 2 with one line on stderr for a setting that cannot be used."""
    try:
        result = mle_baseline(args.mode, args.dataset, args.components, seed=args.seed, samples=args.samples)
    except ConfigError as exc:
        return _fail(str(exc))
    except ValueError as exc:  # EM could not fit (a degenerate point set): fewer components may do
        return _fail(f"--components: {exc}")
    print(json.dumps(result))
    return 0


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE

