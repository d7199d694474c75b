"""Drift on 100,000 x 20: Bastion's cached-reference detectors vs Evidently's data-drift
preset on the same data, and the streaming update cost per request.

Claim (issue 12): at least 10x faster than Evidently's ``DataDriftPreset`` with the same
drifted columns flagged. The data: 16 numeric and 4 categorical columns, reference and
current drawn with the same seed scheme; drift is injected into 5 known columns (numeric
``n00`` mean +0.5 sd, ``n01`` mean -0.6 sd, ``n02`` scale x2, ``n03`` mean +1 sd;
categorical ``c00`` proportions reversed); the other 15 are drawn from the same
distribution in both. Both sides get the same numpy arrays (a pandas DataFrame of them for
Evidently).

Timed, per side (median of ``--runs``): Bastion's ``ReferenceProfile.build`` (once per
reference; a server keeps it) and ``compare`` (what each new batch costs), and both
together; Evidently's ``Report([DataDriftPreset()]).run`` (its own defaults: for more than
1,000 rows, normed Wasserstein distance > 0.1 for numeric and Jensen-Shannon > 0.1 for
categorical columns). Evidently's import (~10 s) is not counted. Streaming:
``StreamingDrift.update`` per request over ``--stream`` requests of 20 columns, in windows
of 10,000.

Evidently 0.7 imports ``pandas.core.dtypes.common.infer_dtype_from_object``, which pandas 3
removed; this script puts back a one-line equivalent before importing it (benchmark only:
the pinned pandas stays). Telemetry is turned off (``DO_NOT_TRACK``). ``--no-peer`` runs
Bastion alone.

    python benchmarks/drift.py [--rows 100000] [--runs 3] [--peer-runs 1] [--stream 100000]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Any

import numpy as np
from _common import median_of, print_table, write_results

from bastion.monitor import ReferenceProfile, StreamingDrift

N_NUM, N_CAT = 16, 4
DRIFTED = ("n00", "n01", "n02", "n03", "c00")
CATS = ("a", "b", "c", "d", "e")
P_REF = (0.4, 0.25, 0.15, 0.12, 0.08)


def make(rows: int, seed: int, drift: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(N_NUM):
        loc, scale = 0.0, 1.0
        if drift and i == 0:
            loc = 0.5
        if drift and i == 1:
            loc = -0.6
        if drift and i == 2:
            scale = 2.0
        if drift and i == 3:
            loc = 1.0
        cols[f"n{i:02d}"] = rng.normal(loc, scale, rows) * (1 + i) + 10 * i
    for i in range(N_CAT):
        p = P_REF[::-1] if drift and i == 0 else P_REF
        cols[f"c{i:02d}"] = rng.choice(CATS, rows, p=p).astype(object)
    return cols


def bastion_batch(ref: dict[str, Any], cur: dict[str, Any], runs: int) -> dict[str, Any]:
    cats = [c for c in ref if c.startswith("c")]
    build_s, build_all, profile = median_of(
        runs, lambda: ReferenceProfile.build(ref, categorical=cats)
    )
    compare_s, compare_all, report = median_of(runs, lambda: profile.compare(cur))
    return {
        "build_s": build_s,
        "compare_s": compare_s,
        "total_s": build_s + compare_s,
        "samples": {"build": build_all, "compare": compare_all},
        "drifted": sorted(report.drifted),
        "profile": profile,
    }


def evidently_batch(ref: dict[str, Any], cur: dict[str, Any], runs: int) -> dict[str, Any]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")
    import pandas as pd
    import pandas.core.dtypes.common as pdc

    if not hasattr(pdc, "infer_dtype_from_object"):  # removed in pandas 3; Evidently 0.7 imports it
        pdc.infer_dtype_from_object = lambda dtype: pdc.pandas_dtype(dtype).type  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    import_s = time.perf_counter() - t0
    from importlib.metadata import version

    ref_df, cur_df = pd.DataFrame(ref), pd.DataFrame(cur)
    num = [c for c in ref if c.startswith("n")]
    cat = [c for c in ref if c.startswith("c")]
    dd = DataDefinition(numerical_columns=num, categorical_columns=cat)

    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = Report([DataDriftPreset()])
            return report.run(
                Dataset.from_pandas(cur_df, data_definition=dd),
                Dataset.from_pandas(ref_df, data_definition=dd),
            )

    run_s, samples, snap = median_of(runs, run)
    drifted = []
    methods = {}
    for m in snap.dict()["metrics"]:
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            methods[cfg["column"]] = cfg["method"]
            if float(m["value"]) >= float(cfg["threshold"]):
                drifted.append(cfg["column"])
    return {
        "version": version("evidently"),
        "import_s": import_s,
        "run_s": run_s,
        "samples": samples,
        "drifted": sorted(drifted),
        "methods": sorted(set(methods.values())),
    }


def streaming(profile: ReferenceProfile, cur: dict[str, Any], n: int) -> dict[str, Any]:
    names = list(cur)
    rows = [
        {k: (cur[k][i].item() if hasattr(cur[k][i], "item") else cur[k][i]) for k in names}
        for i in range(n)
    ]
    sd = StreamingDrift(profile, window_size=10_000)
    reports = []
    t0 = time.perf_counter()
    for r in rows:
        rep = sd.update(r)
        if rep is not None:
            reports.append(rep)
    total = time.perf_counter() - t0
    # the per-request part alone (window closes excluded): a second pass without closing
    sd2 = StreamingDrift(profile, window_size=n + 1)
    t0 = time.perf_counter()
    for r in rows:
        sd2.update(r)
    upd = time.perf_counter() - t0
    closes = reports
    return {
        "requests": n,
        "us_per_request_incl_window_close": total / n * 1e6,
        "us_per_request_update_only": upd / n * 1e6,
        "windows": len(closes),
        "window_drifted": sorted({c for rep in closes for c in rep.drifted}),
        "alerts_raised": sorted(
            {a.feature for rep in closes for a in rep.alerts if a.state == "raised"}
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peer-runs", type=int, default=1)
    ap.add_argument("--stream", type=int, default=100_000)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()

    ref = make(args.rows, 1, drift=False)
    cur = make(args.rows, 2, drift=True)
    b = bastion_batch(ref, cur, args.runs)
    e = None if args.no_peer else evidently_batch(ref, cur, args.peer_runs)
    s = streaming(b["profile"], cur, min(args.stream, args.rows))

    print(f"\ndrift on {args.rows:,} x {N_NUM + N_CAT} (drift injected in {', '.join(DRIFTED)})\n")
    rows = [
        ["bastion build (once per reference)", f"{b['build_s']:.3f} s", ""],
        ["bastion compare (per batch)", f"{b['compare_s']:.3f} s", ", ".join(b["drifted"])],
        ["bastion build + compare", f"{b['total_s']:.3f} s", ""],
    ]
    if e is not None:
        rows.append([f"evidently {e['version']} DataDriftPreset", f"{e['run_s']:.3f} s",
                     ", ".join(e["drifted"])])  # fmt: skip
    print_table(["contender", "time", "drifted columns"], rows)
    if e is not None:
        same = b["drifted"] == e["drifted"] == sorted(DRIFTED)
        print(
            f"\nspeed-up: {e['run_s'] / b['total_s']:.1f}x (build + compare), "
            f"{e['run_s'] / b['compare_s']:.1f}x (cached reference); same drifted columns: "
            f"{'yes' if same else 'NO'} (injected: {', '.join(sorted(DRIFTED))}); "
            f"Evidently import {e['import_s']:.1f} s not counted"
        )
    print(
        f"streaming: {s['us_per_request_update_only']:.1f} us per request (20 columns), "
        f"{s['us_per_request_incl_window_close']:.1f} us with a window closed every 10,000; "
        f"windows {s['windows']}, drifted in windows: {', '.join(s['window_drifted'])}"
    )
    b.pop("profile")
    load = os.getloadavg()
    path = write_results(
        "drift" if args.rows == 100_000 else f"drift_{args.rows}",
        {
            "rows": args.rows,
            "columns": N_NUM + N_CAT,
            "injected": list(DRIFTED),
            "bastion": b,
            "evidently": e,
            "streaming": s,
            "same_columns": e is not None and b["drifted"] == e["drifted"] == sorted(DRIFTED),
            "speedup_total": e["run_s"] / b["total_s"] if e else None,
            "speedup_cached": e["run_s"] / b["compare_s"] if e else None,
            "loadavg": load,
        },
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
