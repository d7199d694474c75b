"""Claim: the model-file scanner detects the whole crafted corpus with zero false positives
on benign models, and walks a 36 MiB pickle of one million small dicts at >= 20x picklescan.

Peers on the same files in the same run: picklescan, modelscan, fickling. Files get the
extension their format normally has (peers pick scanners by extension; Bastion ignores it).

    python benchmarks/scan_models.py [--runs 3] [--peer-runs 1] [--skip-speed-peers]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import pickle
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import median_of, print_table, write_results
from tests.integrity.scanning.corpus import benign_corpus, malicious_corpus

from bastion.integrity import ScanVerdict, scan_path

_EXT = (
    ("onnx", ".onnx"), ("hdf5", ".h5"), ("keras", ".keras"), ("npz", ".npz"), ("npy", ".npy"),
    ("joblib", ".joblib"), ("tgz", ".tar.gz"), ("tar", ".tar"), ("gzip", ".gz"),
    ("zip_in_zip", ".zip"), ("zip", ".pt"), ("torch", ".pt"), ("safetensors", ".safetensors"),
    ("nonstandard_extension", ".txt"), ("gguf", ".gguf"), ("json", ".json"),
)  # fmt: skip


def ext_for(name: str) -> str:
    for key, ext in _EXT:
        if key in name:
            return ext
    return ".pkl"


def bastion_flags(p: Path) -> str:
    v = scan_path(p).verdict
    return "safe" if v is ScanVerdict.SAFE else ("error" if v is ScanVerdict.ERROR else "flag")


def picklescan_flags(p: Path) -> str:
    from picklescan.scanner import scan_file_path

    r = scan_file_path(str(p))
    if r.issues_count or r.infected_files:
        return "flag"
    return "error" if r.scan_err else "safe"


def modelscan_flags(p: Path) -> str:
    from modelscan.modelscan import ModelScan

    r = ModelScan().scan(p)
    if r["summary"]["total_issues"]:
        return "flag"
    return "error" if r.get("errors") else "safe"


def fickling_flags(p: Path) -> str:
    import fickling

    try:
        return "safe" if fickling.is_likely_safe(str(p)) else "flag"
    except Exception:
        return "error"


TOOLS: dict[str, Callable[[Path], str]] = {
    "bastion": bastion_flags,
    "picklescan": picklescan_flags,
    "modelscan": modelscan_flags,
    "fickling": fickling_flags,
}


def family_table(
    per_file: dict[str, dict[str, str]], evil: list[str]
) -> dict[str, dict[str, dict[str, int]]]:
    """Per issue 16 family (``family_N_...`` files), per tool: flagged, errors, files."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name in evil:
        if not name.startswith("family_"):
            continue
        fam = "_".join(name.split("_")[:2])
        for tool in TOOLS:
            c = out.setdefault(fam, {}).setdefault(tool, {"flag": 0, "error": 0, "n": 0})
            v = per_file[tool][name]
            c["n"] += 1
            c["flag"] += v == "flag"
            c["error"] += v == "error"
    return dict(sorted(out.items()))


def quiet(fn: Callable[[Path], str], p: Path) -> str:
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        try:
            return fn(p)
        except Exception:
            return "error"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peer-runs", type=int, default=1)
    ap.add_argument("--skip-speed-peers", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    work = Path(tempfile.mkdtemp(prefix="bastion-scan-bench-"))
    marker = work / "PWNED"
    evil_dir, good_dir = work / "evil", work / "benign"
    evil_dir.mkdir()
    good_dir.mkdir()
    for name, data in malicious_corpus(marker).items():
        (evil_dir / (name + ext_for(name))).write_bytes(data)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "credit-scoring"))
    import train

    train.build(work / "cs", n_applicants=300, seed=7)
    for name, data in benign_corpus(
        work, work / "cs" / "models" / "credit-gbm" / "model.pkl"
    ).items():
        (good_dir / (name + ext_for(name))).write_bytes(data)

    detection: dict[str, dict[str, object]] = {}
    per_file: dict[str, dict[str, str]] = {}
    evil_files = sorted(evil_dir.iterdir())
    good_files = sorted(good_dir.iterdir())
    for tool, fn in TOOLS.items():
        ev = {f.name: quiet(fn, f) for f in evil_files}
        gd = {f.name: quiet(fn, f) for f in good_files}
        per_file[tool] = ev | gd
        detection[tool] = {
            "detected": sum(v == "flag" for v in ev.values()),
            "errors_on_malicious": sum(v == "error" for v in ev.values()),
            "malicious": len(ev),
            "false_positives": sum(v == "flag" for v in gd.values()),
            "errors_on_benign": sum(v == "error" for v in gd.values()),
            "benign": len(gd),
            "missed": sorted(k for k, v in ev.items() if v == "safe"),
            "flagged_benign": sorted(k for k, v in gd.items() if v != "safe"),
        }
    print(
        f"corpus: {len(evil_files)} malicious, {len(good_files)} benign; marker created: {marker.exists()}"
    )
    print_table(
        ["tool", "detected", "errors(mal)", "false pos", "errors(benign)"],
        [
            (
                t,
                f"{d['detected']}/{d['malicious']}",
                d["errors_on_malicious"],
                f"{d['false_positives']}/{d['benign']}",
                d["errors_on_benign"],
            )
            for t, d in detection.items()
        ],
    )
    for t, d in detection.items():
        if t != "bastion":
            print(f"  {t} missed: {', '.join(d['missed'])}")  # type: ignore[arg-type]
    families = family_table(per_file, [f.name for f in evil_files])
    print("\nissue 16 families (flagged / files; e = errors)")
    print_table(
        ["family", *TOOLS],
        [
            (fam, *(f"{c['flag']}/{c['n']}" + (f" e{c['error']}" if c["error"] else "")
                    for c in row.values()))
            for fam, row in families.items()
        ],
    )  # fmt: skip

    # Speed: a 36 MiB pickle of one million small dicts.
    big = work / "speed" / "dicts.pkl"
    big.parent.mkdir()
    rows = [
        {"id": i, "score": i * 0.5, "name": f"user{i % 1000}", "ok": True} for i in range(1_000_000)
    ]
    big.write_bytes(pickle.dumps(rows, protocol=4))
    del rows
    mib = big.stat().st_size / 2**20
    speed: dict[str, dict[str, object]] = {}
    tools = ["bastion"] + ([] if args.skip_speed_peers else ["picklescan", "modelscan", "fickling"])
    for tool in tools:
        runs = args.runs if tool == "bastion" else args.peer_runs
        med, samples, verdict = median_of(runs, lambda t=tool: quiet(TOOLS[t], big))
        speed[tool] = {
            "seconds_median": med,
            "samples": samples,
            "mib_per_s": mib / med,
            "verdict": verdict,
        }
    base = speed["bastion"]["mib_per_s"]
    print(f"\nspeed on {mib:.1f} MiB pickle of 1,000,000 small dicts (median)")
    print_table(
        ["tool", "seconds", "MiB/s", "bastion is x faster", "verdict"],
        [
            (
                t,
                f"{s['seconds_median']:.2f}",
                f"{s['mib_per_s']:.1f}",
                f"{base / s['mib_per_s']:.1f}",
                s["verdict"],
            )  # type: ignore[operator]
            for t, s in speed.items()
        ],
    )
    # The precise pass (a pickle that imports something) on the same data, for honesty.
    rows2 = [
        {"id": i, "score": i * 0.5, "name": f"user{i % 1000}", "ok": True} for i in range(1_000_000)
    ]
    from collections import OrderedDict

    big2 = big.with_name("dicts_with_global.pkl")
    big2.write_bytes(pickle.dumps([OrderedDict(), *rows2], protocol=4))
    del rows2
    med2, s2, _ = median_of(args.runs, lambda: quiet(bastion_flags, big2))
    print(
        f"bastion precise pass (pickle with one global): {big2.stat().st_size / 2**20 / med2:.1f} MiB/s"
    )
    out = write_results(
        "scan_models",
        {
            "corpus": {"malicious": len(evil_files), "benign": len(good_files)},
            "marker_created": marker.exists(),
            "detection": detection,
            "families": families,
            "per_file": per_file,
            "speed": {"mib": mib, "tools": speed, "bastion_precise_mib_per_s": big2.stat().st_size / 2**20 / med2,
                      "bastion_precise_samples": s2},
        },
    )  # fmt: skip
    print(f"\nresults: {out}")
    _ = (statistics, time)


if __name__ == "__main__":
    main()
