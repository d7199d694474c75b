"""Claim: the guard's probing and extraction detectors catch a scripted synthetic-query
extraction (PRADA) and a HopSkipJump-like boundary walk (Blacklight) within a few hundred
queries, while benign replayed traffic is almost never flagged.

Input: scikit-learn's digits (1,797 rows, 64 features scaled to [0, 1], bundled with
scikit-learn, nothing downloaded), shuffled with seed 0; a logistic-regression victim
trained on the first 1,000 rows, the other 797 replayed as benign traffic. Every
attack query goes through the detectors first (``bastion.guard.detect.traffic.
GuardedOracle``, the in-process state store), as the guard would run them:

- jbda: Papernot et al.'s Jacobian-based augmentation from 10 natural seed rows,
  6 rounds (640 queries), step ``lam`` (1/16 and 1/8 of the range), a
  logistic-regression surrogate retrained each round;
- random: 640 uniformly random queries (Tramer-style), surrogate trained on the answers;
- boundary: a HopSkipJump-like walk (binary searches to the boundary, 40 label-only
  gradient queries per iteration, 5 iterations, about 260 queries) from a row of
  another class towards the target row;
- benign: the 797 held-out rows in a random order, one client (PRADA) / seven clients
  (Blacklight), five orders.

No peer: no maintained open-source package implements PRADA or Blacklight as a serving
component (ART has neither); the numbers stand alone. "first" is the 1-based index of
the first query whose verdict was THROTTLE or worse; the FPR is the share of benign
queries that earned one.

    .venv/bin/python benchmarks/guard_detection.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import CACHE_DIR, ensure_ignored_dir, print_table, write_results  # noqa: E402


def _digits() -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm] / 16.0, y[perm]
    victim = LogisticRegression(max_iter=2000).fit(x[:1000], y[:1000])
    return victim, x[1000:], y[1000:], x[:1000]


def _stages() -> tuple[Any, Any]:
    from bastion.guard._state import MemoryStateStore
    from bastion.guard.detect import BlacklightDetector, PradaDetector

    return (
        PradaDetector(MemoryStateStore(), label_field="label"),
        BlacklightDetector(MemoryStateStore(), quantize=1 / 8, window=16),
    )


def _summary(firsts: list[int | None], total: list[int]) -> dict[str, Any]:
    hit = [f for f in firsts if f is not None]
    return {
        "runs": len(firsts),
        "detected": len(hit),
        "first_median": statistics.median(hit) if hit else None,
        "first_max": max(hit) if hit else None,
        "queries_per_run": statistics.median(total),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()

    from bastion.guard.detect.traffic import (
        GuardedOracle,
        boundary_walk,
        jacobian_extraction,
        random_extraction,
        replay,
    )

    victim, x_test, y_test, _ = _digits()

    def predict(x: np.ndarray) -> int:
        return int(victim.predict(x.reshape(1, -1))[0])

    results: dict[str, Any] = {}
    rows: list[list[object]] = []
    curves: dict[str, list[float]] = {}
    for attack in ("jbda lam=1/16", "jbda lam=1/8", "random", "boundary"):
        per: dict[str, list[int | None]] = {"prada": [], "blacklight": []}
        totals: list[int] = []
        fidelity: list[float] = []
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            prada, bl = _stages()
            oracle = GuardedOracle(predict, [prada, bl], client_id=f"attacker{seed}")
            sur = None
            if attack.startswith("jbda"):
                lam = 1 / 16 if attack.endswith("16") else 1 / 8
                seeds = x_test[rng.choice(len(x_test), 10, replace=False)]
                sur, _, _ = jacobian_extraction(oracle, seeds, lam=lam, rounds=6)
            elif attack == "random":
                sur, _, _ = random_extraction(oracle, 640, 64, rng=rng)
            else:
                i = int(rng.integers(len(x_test)))
                other = x_test[y_test != y_test[i]][int(rng.integers(100))]
                boundary_walk(oracle, x_test[i], other, rng=rng)
            if sur is not None:
                fidelity.append(float((sur.predict(x_test) == victim.predict(x_test)).mean()))
            totals.append(oracle.queries)
            for name in per:
                per[name].append(oracle.first_detection.get(name))
        results[attack] = {name: _summary(f, totals) for name, f in per.items()}
        if fidelity:
            results[attack]["surrogate_agreement_median"] = statistics.median(fidelity)
        for name in per:
            s = results[attack][name]
            rows.append([attack, name, f"{s['detected']}/{s['runs']}", s["first_median"],
                         s["first_max"], s["queries_per_run"]])  # fmt: skip

    # PRADA's W over a run, for the chart: one extraction and one benign client
    from bastion.guard.interface import GuardRequest

    def w_curve(queries: np.ndarray, labels: np.ndarray) -> list[float]:
        from bastion.guard.interface import Response

        prada, _ = _stages()
        out: list[float] = []
        for k, q in enumerate(queries):
            req = GuardRequest(f"q{k}", "model", "c", None, features=[float(v) for v in q])
            prada.inspect(req)
            prada.filter(req, Response(200, {"label": int(labels[k])}))
            w = prada.statistic(req)
            out.append(float("nan") if w is None else w)
        return out

    rng = np.random.default_rng(0)
    probe = GuardedOracle(predict, [], client_id="x")
    _, jq, jl = jacobian_extraction(probe, x_test[rng.choice(len(x_test), 10, replace=False)],
                                    lam=1 / 16, rounds=6)  # fmt: skip
    curves["jbda lam=1/16"] = w_curve(jq, jl)
    order = np.random.default_rng(1).permutation(len(x_test))
    curves["benign"] = w_curve(x_test[order], victim.predict(x_test[order]))

    benign: dict[str, dict[str, float]] = {}
    flagged = {"prada": 0, "blacklight": 0}
    total = 0
    for seed in range(5):
        order = np.random.default_rng(100 + seed).permutation(len(x_test))
        prada, bl = _stages()
        op = GuardedOracle(predict, [prada], client_id="analyst")
        replay(op, x_test[order])
        for k, row in enumerate(x_test[order]):  # Blacklight: seven clients share one store
            req = GuardRequest(f"b{k}", "model", f"user{k % 7}", None,
                               features=[float(v) for v in row])  # fmt: skip
            if bl.inspect(req).verdict > 0:
                flagged["blacklight"] += 1
        flagged["prada"] += op.flagged.get("prada", 0)
        total += len(order)
    for name, n in flagged.items():
        benign[name] = {"queries": total, "flagged": n, "fpr": n / total}
        rows.append(["benign replay", name, f"{n}/{total} flagged", "-", "-", len(x_test)])

    # cost per query of each stage on the benign stream (PRADA: inspect, then the answer's
    # label through its filter, as the guard runs it)
    from bastion.guard.interface import Response

    cost: dict[str, float] = {}
    labels = victim.predict(x_test)
    for name in ("prada", "blacklight"):
        prada, bl = _stages()
        reqs = [GuardRequest(f"t{k}", "model", "c", None, features=[float(v) for v in r])
                for k, r in enumerate(x_test)]  # fmt: skip
        t0 = time.perf_counter()
        for k, r in enumerate(reqs):
            if name == "prada":
                prada.inspect(r)
                prada.filter(r, Response(200, {"label": int(labels[k])}))
            else:
                bl.inspect(r)
        cost[name] = (time.perf_counter() - t0) / len(reqs) * 1e6

    print_table(["attack", "detector", "detected", "first (median)", "first (max)", "queries"],
                rows)  # fmt: skip
    print()
    for attack in results:
        if "surrogate_agreement_median" in results[attack]:
            print(f"{attack}: surrogate agrees with the victim on "
                  f"{results[attack]['surrogate_agreement_median']:.1%} of held-out rows")  # fmt: skip
    print("mean cost per query: " + ", ".join(f"{k} {v:.0f} us" for k, v in cost.items()))

    svg = _chart(curves)
    chart = ensure_ignored_dir(CACHE_DIR) / "guard_detection.svg"  # git-ignored, like the JSON
    chart.write_text(svg)
    out = write_results("guard_detection", {"attacks": results, "benign": benign,
                                            "us_per_query": cost, "seeds": args.seeds})  # fmt: skip
    print(f"wrote {out} and {chart}")


def _chart(curves: dict[str, list[float]]) -> str:
    from matplotlib.figure import Figure

    from bastion.core.charts import render_svg
    from bastion.guard.detect import DEFAULT_PRADA_LADDER

    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    for label, ys in curves.items():
        ax.plot(range(1, len(ys) + 1), ys, label=label)
    for name, t in DEFAULT_PRADA_LADDER.to_dict().items():
        if t is not None:
            ax.axhline(1 - t, linestyle=":", linewidth=0.8, color="grey")
            ax.text(5, 1 - t + 0.003, f"{name} (W < {1 - t:.2f})", fontsize=7, color="grey")
    ax.set_xlabel("queries from one client")
    ax.set_ylabel("Shapiro-Wilk W of min. distances")
    ax.set_title("PRADA on the digits model: synthetic-query extraction vs benign replay")
    ax.legend(loc="lower right", fontsize=8)
    return render_svg(fig, "guard-detection")


if __name__ == "__main__":
    main()
