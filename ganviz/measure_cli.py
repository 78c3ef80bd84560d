"""`ganviz measure`: ganviz's divergence estimator on a given sample set (the window's own,
ganviz.core.estimator: Estimator1D, and in 2-D Estimator2D through Toy2DTask.estimate_samples).

Prints one JSON line: jsd, kl (KL(P_data‖P_G)), kl_rev (KL(P_G‖P_data)) in nats, for 2-D mixtures
`modes` and `hq`, the number of samples, and the estimator's settings. The target is a built-in
one or a user's data file (1-D: one column, 2-D: two), read as the window reads it: a KDE fitted in
standardised coordinates, the samples given in the data's own units. Non-finite values (a KL that
is infinite) are written as null. Bad files or datasets: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

EXIT_USAGE = 2


def add_measure_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "measure", help="measure JSD/KL (and modes, HQ) of a sample set against a target",
        description="Run ganviz's divergence estimator on a sample set (a generator's output, a baseline): "
                    "the one the window and `ganviz train` use (an adaptive KDE of P_G against the exact "
                    "P_data; see README) and print one JSON line with jsd, kl = KL(P_data‖P_G), kl_rev = KL(P_G‖P_data) (nats), "
                    "for 2-D mixtures modes and hq, and the estimator's settings. FILE: .npy of shape (N,) "
                    "or (N, 1) in 1-D, (N, 2) in 2-D, or a .csv with that many numeric columns (optional "
                    "header). Exit 2 for a bad file or dataset.")
    p.add_argument("--mode", choices=("1d", "2d"), required=True)
    p.add_argument("--dataset", required=True,
                   help="the target P_data: a built-in name, or a data file (.csv/.npy) whose KDE is P_data, "
                        "as in the window")
    p.add_argument("--spread", type=float, default=1.0, help="2-D: the σ multiplier of the target (default 1)")
    p.add_argument("file", metavar="FILE", help="the samples of P_G (.npy or .csv)")
    return p


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def measure(mode: str, dataset: str, samples: np.ndarray, spread: float = 1.0) -> dict:
    """The estimator's reading of `samples` (in the data's units) against the target `dataset`, a
    built-in name or a data file (raises ValueError for an unknown dataset, ConfigError for an
    unusable data file)."""
    if mode == "1d":
        from ganviz.core.estimator import Estimator1D, mixture_log_pdf
        from ganviz.core.points import is_points_file
        from ganviz.core.toy1d import TARGETS_1D, Mixture1D, point_target_1d

        if is_points_file(dataset):
            # the window's target of a data file: Scott's KDE in standardised coordinates; the
            # samples come in the data's units (as samples.csv writes them) and are mapped there
            kde = point_target_1d(dataset)
            est = Estimator1D(kde.log_pdf)
            r = est.estimate(kde.units.to_standard(samples.reshape(-1, 1))[:, 0])
            p_data = {"p_data": "gaussian_kde", "kde_rule": "scott", "kde_points": kde.n,
                      "kde_bandwidth": kde.h * float(kde.units.scale[0])}  # in the data's units
        elif dataset in TARGETS_1D:
            target = Mixture1D(TARGETS_1D[dataset])
            est = Estimator1D(mixture_log_pdf(target.weights, target.components))
            r = est.estimate(samples.reshape(-1))
            p_data = {}
        else:
            raise ValueError(f"unknown 1-D dataset {dataset!r}; choose one of {', '.join(TARGETS_1D)}, "
                             "or a .csv/.npy file of values")
        settings = est.settings() | {"pilot_block": r.k, "outside_share": r.outside} | p_data
        return {"mode": mode, "dataset": dataset, "n": r.n, "jsd": r.jsd, "kl": r.kl, "kl_rev": r.kl_rev,
                "settings": settings}
    import torch

    from ganviz.core.config import TrainConfig
    from ganviz.core.toy2d import Toy2DTask

    cfg = TrainConfig.for_mode("2d", dataset=dataset, spread=spread, device="cpu")
    task = Toy2DTask(cfg, torch.device("cpu"))
    # a point-file target works in standardised coordinates; the samples are in the data's units
    r = task.estimate_samples(torch.as_tensor(task.to_task(samples), dtype=torch.float64))
    return {"mode": mode, "dataset": dataset, "n": len(samples)} | r


def measure_command(args: argparse.Namespace) -> int:
    from ganviz.core.config import ConfigError
    from ganviz.core.points import load_points

    columns = 1 if args.mode == "1d" else 2
    try:
        samples = load_points(args.file, columns=columns)
        result = measure(args.mode, args.dataset, samples, args.spread)
    except ConfigError as exc:
        print(f"ganviz measure: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"ganviz measure: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = {k: ({kk: _clean(vv) for kk, vv in v.items()} if isinstance(v, dict) else _clean(v))
              for k, v in result.items()}
    print(json.dumps(result, allow_nan=False))
    return 0
