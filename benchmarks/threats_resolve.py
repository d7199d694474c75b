"""Claim: Bastion models a 5,000-element system at least 3x faster than pytm's resolve().

Input: the credit-scoring example copied N times with renamed ids (tests/threats/_gen.py),
about 5,000 elements (assets + flows), with its trust boundaries. The pytm model is the
same graph: actors/external entities, processes, datastores and dataflows with the same
boundaries, encryption and authentication flags. Timed: pytm ``TM.resolve()`` (threat
evaluation only, after ``check()``) vs Bastion ``model_threats()`` (graph build + all rules +
findings with reasons, from an already parsed manifest). Manifest parsing is reported apart.

    .venv/bin/python benchmarks/threats_resolve.py [--copies 157] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import median_of, print_table, write_results  # noqa: E402
from tests.threats._gen import generated_dict  # noqa: E402

from bastion.manifest import SystemManifest  # noqa: E402
from bastion.threats import model_threats  # noqa: E402

EXTERNAL = {"human_actor", "external_service", "third_party_model_api"}
STORES = {"dataset", "data_store", "feature_store", "vector_store"}


def build_pytm(doc: dict[str, Any]) -> Any:
    from pytm import TM, Actor, Boundary, Dataflow, Datastore, ExternalEntity, Process

    TM.reset()
    tm = TM("generated", description="credit scoring copies")
    bounds: dict[str, Any] = {b["id"]: Boundary(b["id"]) for b in doc["boundaries"]}
    for b in doc["boundaries"]:
        for child in b.get("boundaries", []):
            bounds[child].inBoundary = bounds[b["id"]]
    where = {a: b["id"] for b in doc["boundaries"] for a in b.get("assets", [])}
    els: dict[str, Any] = {}
    for a in doc["assets"]:
        kind = a["kind"]
        if kind == "human_actor":
            e = Actor(a["id"])
        elif kind in EXTERNAL:
            e = ExternalEntity(a["id"])
        elif kind in STORES:
            e = Datastore(a["id"])
            e.isEncrypted = bool(a.get("encryption", {}).get("at_rest"))
            e.hasAccessControl = a.get("authentication", "none") != "none"
        else:
            e = Process(a["id"])
            e.authenticatesSource = a.get("authentication", "none") != "none"
        if a["id"] in where:
            e.inBoundary = bounds[where[a["id"]]]
        els[a["id"]] = e
    for f in doc["flows"]:
        df = Dataflow(els[f["source"]], els[f["target"]], f["id"])
        df.protocol = f["protocol"].upper()
        df.isEncrypted = bool(f.get("encryption", {}).get("in_transit"))
        df.authenticatesSource = f.get("authentication", "none") != "none"
    tm.check()
    return tm


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=157, help="copies of the 32-element example")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    doc = generated_dict(args.copies)
    elements = len(doc["assets"]) + len(doc["flows"])
    t0 = time.perf_counter()
    manifest = SystemManifest.model_validate(doc)
    parse_s = time.perf_counter() - t0

    pytm_samples: list[float] = []
    pytm_findings = 0
    for _ in range(args.runs):
        tm = build_pytm(doc)
        t0 = time.perf_counter()
        tm.resolve()
        pytm_samples.append(time.perf_counter() - t0)
        pytm_findings = len(tm.findings)
    pytm_s = statistics.median(pytm_samples)

    bastion_s, bastion_samples, model = median_of(args.runs, lambda: model_threats(manifest))
    ratio = pytm_s / bastion_s
    print(f"{elements} elements ({args.copies} copies of the example), median of {args.runs} runs")
    print_table(
        ["tool", "median s", "findings", "findings/element"],
        [
            ["pytm resolve()", f"{pytm_s:.3f}", pytm_findings, f"{pytm_findings / elements:.2f}"],
            [
                "bastion model_threats()",
                f"{bastion_s:.3f}",
                len(model.findings),
                f"{len(model.findings) / elements:.2f}",
            ],
        ],
    )
    print(
        f"bastion is {ratio:.1f}x faster than pytm (goal >= 3x); manifest validation {parse_s:.3f}s"
    )
    out = write_results(
        "threats_resolve",
        {
            "elements": elements,
            "copies": args.copies,
            "runs": args.runs,
            "pytm_resolve_s": {"median": pytm_s, "samples": pytm_samples},
            "bastion_model_s": {"median": bastion_s, "samples": bastion_samples},
            "bastion_manifest_validation_s": parse_s,
            "ratio": ratio,
            "findings": {"pytm": pytm_findings, "bastion": len(model.findings)},
        },
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
