"""Permutation importance: Bastion's minimization (``permutation_importance`` with its
paired bootstrap CI) vs scikit-learn's ``sklearn.inspection.permutation_importance`` on the
same fitted model, the same evaluation rows and the same number of shuffles.

What is compared: the importance each gives every feature (mean accuracy drop; both shuffle
one column at a time through the given model, so the means should agree within shuffle
noise: Spearman rank correlation and the largest absolute difference are printed), and the
time each takes. Bastion's time includes its bootstrap confidence interval (``--bootstrap``
resamples of the per-row deltas), which scikit-learn does not compute; its ``importances_std``
is the spread over shuffles, not a confidence interval of the mean.

Data: ``--rows`` synthetic rows (seeded), 12 features of which 4 carry the label, a
HistGradientBoostingClassifier fitted on a separate training split.

    .venv/bin/python benchmarks/minimize_importance.py [--rows 20000] [--repeats 5] [--bootstrap 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine_info, print_table, write_results  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    from scipy.stats import spearmanr
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance as sk_perm

    from bastion.privacy.minimize import Metric, permutation_importance
    from bastion.robustness import SklearnTarget

    rng = np.random.default_rng(0)
    n, k = args.rows * 2, 12
    x = rng.normal(size=(n, k)).astype(np.float32)
    logit = 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.7 * x[:, 2] * x[:, 3] + 0.3 * x[:, 4]
    y = (logit + rng.normal(scale=0.5, size=n) > 0).astype(int)
    model = HistGradientBoostingClassifier(random_state=0).fit(x[: args.rows], y[: args.rows])
    xe, ye = x[args.rows :], y[args.rows :]
    target = SklearnTarget(model)
    names = [f"f{i}" for i in range(k)]
    t0 = time.perf_counter()
    _base, ours = permutation_importance(
        target, xe, ye.astype(np.int64), names, metric=Metric.ACCURACY,
        rng=np.random.default_rng(1), repeats=args.repeats, n_boot=args.bootstrap,
    )  # fmt: skip
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk = sk_perm(model, xe, ye, scoring="accuracy", n_repeats=args.repeats, random_state=1)
    t_sk = time.perf_counter() - t0
    mine = np.array([i.delta for i in ours])
    theirs = np.asarray(sk.importances_mean)
    rho = float(spearmanr(mine, theirs).statistic)
    top_mine = set(np.argsort(-mine)[:5])
    top_theirs = set(np.argsort(-theirs)[:5])
    rows = [[names[i], f"{mine[i]:+.4f} [{ours[i].ci_low:+.4f}, {ours[i].ci_high:+.4f}]",
             f"{theirs[i]:+.4f} ± {sk.importances_std[i]:.4f}"] for i in range(k)]  # fmt: skip
    print_table(["feature", "bastion delta [95% CI]", "scikit-learn mean ± std"], rows)
    print_table(
        ["what", "seconds"],
        [[f"bastion, {args.repeats} shuffles + {args.bootstrap} bootstrap", f"{t_ours:.2f}"],
         [f"scikit-learn, {args.repeats} shuffles", f"{t_sk:.2f}"]],
    )  # fmt: skip
    print(f"Spearman rank correlation {rho:.3f}; largest |difference| "
          f"{float(np.max(np.abs(mine - theirs))):.4f}; same top 5: {top_mine == top_theirs}")  # fmt: skip
    write_results("minimize_importance", {
        "rows": args.rows, "features": k, "repeats": args.repeats, "bootstrap": args.bootstrap,
        "bastion_seconds": t_ours, "sklearn_seconds": t_sk, "spearman": rho,
        "max_abs_difference": float(np.max(np.abs(mine - theirs))),
        "same_top5": top_mine == top_theirs,
        "machine": machine_info(["scikit-learn", "numpy"]),
    })  # fmt: skip


if __name__ == "__main__":
    main()
