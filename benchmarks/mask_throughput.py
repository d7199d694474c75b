"""Claim: ``bastion data mask`` masks at least 200,000 rows/s for a 10-column CSV with 3
masked columns; and how many FF3-1 encryptions per second the ``ff3`` package gives.

Input: a generated CSV (seeded, ``--rows``, default 1,000,000) with 10 columns: id, email,
card, dob, region, amount, branch, score, status, note; masked: email (HMAC hash), card (mask,
keep last 4), dob (generalize to year). Timed: ``mask_file`` end to end (CSV parse, the
operators, CSV write, fsync, rename, both digests), without recording evidence. Also
timed: the same with Parquet in and out, and FF3-1 ``encrypt`` on 9-digit values.
No peer is run: Presidio's anonymizer works on text, not tables (not installed here).

``--baseline REF`` also times the operators of git revision REF (``_operators.py`` as it
was there) on the same file, alternating with the current ones ``--runs`` times, and checks
that both write the same bytes: a before/after on a shared machine.

    .venv/bin/python benchmarks/mask_throughput.py [--rows 1000000] [--baseline f0e93a3 --runs 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine_info, print_table, write_results  # noqa: E402

POLICY = """
columns:
  email: {operator: hash}
  card: {operator: mask, keep_last: 4}
  dob: {operator: generalize, to: year}
"""


def _make_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as f:
        f.write("id,email,card,dob,region,amount,branch,score,status,note\n")
        for i in range(rows):
            f.write(
                f"{i},user{rng.randrange(10**6)}@example.com,4{rng.randrange(10**14, 10**15)},"
                f"{rng.randrange(1940, 2005)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d},"
                f"{rng.randrange(10**4, 10**5)},{rng.random() * 1000:.2f},Springfield,"
                f"{rng.randrange(300, 850)},{rng.choice(('ok', 'late', 'closed'))},n/a\n"
            )


def _ab(ref: str, runs: int, src: Path, d: Path, pol: object, keys: object) -> dict[str, object]:
    """CSV rows/s of REF's operators and of the current ones, alternating, same input."""
    import bastion.privacy.deid._mask as mask_mod
    import bastion.privacy.deid._operators as current
    from bastion.privacy.deid import mask_file

    text = subprocess.run(
        ["git", "show", f"{ref}:src/bastion/privacy/deid/_operators.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    base_file = d / "baseline_operators.py"
    base_file.write_text(text)
    spec = importlib.util.spec_from_file_location("baseline_operators", base_file)
    assert spec is not None
    assert spec.loader is not None
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    names = ("RedactOp", "ReplaceOp", "MaskOp", "HashOp", "GeneralizeOp")
    rates: dict[str, list[float]] = {"baseline": [], "current": []}
    digests: dict[str, str] = {}
    try:
        for _ in range(runs):
            for label, mod in (("baseline", baseline), ("current", current)):
                for n in names:
                    setattr(mask_mod, n, getattr(mod, n))
                t0 = time.perf_counter()
                r = mask_file(src, pol, d / f"{label}.csv", keys=keys, record=False)  # type: ignore[arg-type]
                rates[label].append(r.rows / (time.perf_counter() - t0))
                digests[label] = r.output_digest
    finally:
        for n in names:
            setattr(mask_mod, n, getattr(current, n))
    same = digests["baseline"] == digests["current"]
    print_table(
        ["operators", "CSV rows/s per run", "best"],
        [[f"{label}{' (' + ref + ')' if label == 'baseline' else ''}",
          ", ".join(f"{x:,.0f}" for x in v), f"{max(v):,.0f}"] for label, v in rates.items()],
    )  # fmt: skip
    print(
        f"same output bytes: {same}; speed-up (best/best) {max(rates['current']) / max(rates['baseline']):.2f}x"
    )
    return {"baseline": ref, "rates": rates, "same_bytes": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--ff3", type=int, default=20_000)
    ap.add_argument("--baseline", help="git revision whose operators to compare with")
    ap.add_argument("--runs", type=int, default=3, help="alternating runs with --baseline")
    args = ap.parse_args()
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from bastion.privacy.deid import Fpe, KeyringKeyProvider, column_tweak, mask_file, parse_policy

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "in.csv"
        _make_csv(src, args.rows)
        keys = KeyringKeyProvider(d / "keys")
        pol = parse_policy(POLICY)
        t0 = time.perf_counter()
        r = mask_file(src, pol, d / "out.csv", keys=keys, record=False)
        t_csv = time.perf_counter() - t0
        pq.write_table(pacsv.read_csv(src), d / "in.parquet")
        t0 = time.perf_counter()
        mask_file(d / "in.parquet", pol, d / "out.parquet", keys=keys, record=False)
        t_pq = time.perf_counter() - t0
        if args.baseline:
            results["ab"] = _ab(args.baseline, args.runs, src, d, pol, keys)
        key = keys.key("fpe-default")[1]
        f = Fpe(key, column_tweak(key, "ssn"))
        vals = [f"{random.randrange(10**8, 10**9)}" for _ in range(args.ff3)]
        t0 = time.perf_counter()
        for v in vals:
            f.encrypt(v)
        t_ff3 = time.perf_counter() - t0
        results |= {
            "rows": r.rows,
            "csv_seconds": t_csv,
            "csv_rows_per_s": r.rows / t_csv,
            "parquet_seconds": t_pq,
            "parquet_rows_per_s": r.rows / t_pq,
            "ff3_encryptions": args.ff3,
            "ff3_per_s": args.ff3 / t_ff3,
            "input_bytes": src.stat().st_size,
        }
    print_table(
        ["what", "seconds", "rate"],
        [
            [f"mask CSV, {results['rows']:,} rows x 10 cols, 3 masked", f"{t_csv:.2f}", f"{results['csv_rows_per_s']:,.0f} rows/s"],
            ["mask Parquet, same table", f"{t_pq:.2f}", f"{results['parquet_rows_per_s']:,.0f} rows/s"],
            [f"FF3-1 encrypt, {args.ff3:,} 9-digit values", f"{t_ff3:.2f}", f"{results['ff3_per_s']:,.0f} /s"],
        ],
    )  # fmt: skip
    print(
        f"goal >= 200,000 rows/s (CSV): {'met' if results['csv_rows_per_s'] >= 200_000 else 'not met'}"
    )
    write_results("mask_throughput", results | {"machine": machine_info(["pyarrow", "ff3"])})


if __name__ == "__main__":
    main()
