"""Claim: Bastion's authorization decision (Cedar, reasons, merged obligations, grants
checked, recording) stays under 40 us median over 10,000 entities, close to cedarpy alone.

One policy set (the bundled credit-scoring example, 9 policies, 5 with obligations) and
10,000 entities (--resources resources and --principals principals); the same --requests
random requests, in one run, by:

| contender | what one decision does |
|---|---|
| cedarpy-text | ``cedarpy.is_authorized(request, policy_text, entities_handle)``: policies re-parsed each call |
| cedarpy-preparsed | ``cedarpy.is_authorized(request, PolicySet, Entities)``: policies and all entities parsed once: the floor |
| bastion-warm | ``PolicyEngine.decide``: a caller repeating its (principal, resource) pairs (the last --warm-pairs) |
| bastion-random | ``PolicyEngine.decide`` over the random pairs (each resource's entity parsed once, the principal added per pair) |
| bastion-ledgered | bastion-random with decisions appended to a real ledger in batches (LedgerRecorder) |

regorus (Rego in Rust, the issue's other anchor) is not on this machine's package index;
the script says so and leaves it out. Allow/deny agreement between Bastion and cedarpy is
checked on every request. The garbage collector is frozen after setup for every contender
(a long-running server's heap), and microseconds are per decision: median and p99 of
per-call times.

    python benchmarks/authz_decide.py                  # 20,000 requests
    python benchmarks/authz_decide.py --requests 5000
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cedarpy
from _common import print_table, write_results

from bastion.access.interface import (
    Action,
    AuthMethod,
    Identity,
    IdentityKind,
    ResourceKind,
    ResourceRef,
)
from bastion.access.policy import LedgerRecorder, PolicyEngine, PolicyStore, bundled_policy_dir
from bastion.access.policy._store import resource_fragment
from bastion.core.settings import get_settings
from bastion.core.workspace import init_workspace

ROLES = ["loan-officer", "ml-engineer", "broker-partner", "letter-drafter", "viewer"]
KINDS = [IdentityKind.USER, IdentityKind.USER, IdentityKind.VENDOR, IdentityKind.WORKLOAD]
ACTIONS = [Action.INVOKE, Action.EXPLAIN, Action.DOWNLOAD_WEIGHTS, Action.READ_LOGS]
ASSET_KINDS = ["inference_endpoint", "third_party_model_api"]
CLASSES = ["public", "internal", "confidential", "restricted"]


def _percentiles(ns: list[int]) -> tuple[float, float]:
    ns = sorted(ns)
    return statistics.median(ns) / 1000, ns[min(len(ns) - 1, int(len(ns) * 0.99))] / 1000


def _time(calls: list[Callable[[], Any]]) -> tuple[float, float, list[Any]]:
    out: list[Any] = []
    ns: list[int] = []
    clock = time.perf_counter_ns
    for c in calls:
        t0 = clock()
        r = c()
        ns.append(clock() - t0)
        out.append(r)
    med, p99 = _percentiles(ns)
    return med, p99, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--resources", type=int, default=9_900)
    ap.add_argument("--principals", type=int, default=100)
    ap.add_argument("--warm-pairs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    policy_dir = bundled_policy_dir()
    text = "\n".join(p.read_text() for p in sorted(policy_dir.glob("*.cedar")))
    resources = []
    for i in range(args.resources):
        if i % 3 == 2:
            kind, ak = ResourceKind.MODEL_VERSION, "model"
        else:
            kind, ak = ResourceKind.ENDPOINT, ASSET_KINDS[i % 2]
        resources.append(
            ResourceRef(
                kind,
                f"r{i}",
                {
                    "classification": rng.choice(CLASSES),
                    "owner": f"team{i % 40}@bank.example",
                    "tier": 1 + i % 4,
                    "asset_kind": ak,
                },
            )
        )
    identities = []
    for i in range(args.principals):
        pkind = KINDS[i % len(KINDS)]
        roles = frozenset(rng.sample(ROLES, k=1 + i % 2))
        identities.append(Identity(f"{pkind.value}:p{i}", pkind, AuthMethod.BEARER, roles=roles))
    requests = []
    for _ in range(args.requests):
        res = rng.choice(resources)
        action = rng.choice(
            ACTIONS if res.kind is ResourceKind.ENDPOINT else [Action.DOWNLOAD_WEIGHTS]
        )
        requests.append((rng.choice(identities), action, ResourceRef(res.kind, res.id)))

    # cedarpy alone: the same entities (principals and resources) in one parsed handle.
    ptype = {
        IdentityKind.USER: "User",
        IdentityKind.WORKLOAD: "Workload",
        IdentityKind.VENDOR: "Vendor",
    }
    ents: list[dict[str, Any]] = [
        {
            "uid": {"type": ptype[p.kind], "id": p.id.split(":", 1)[1]},
            "attrs": {"roles": sorted(p.roles), "mfa": False, "method": "bearer"},
            "parents": [],
        }
        for p in identities
    ] + [json.loads(resource_fragment(r)) for r in resources]
    entities = cedarpy.Entities.from_json_str(json.dumps(ents))
    policy_set = cedarpy.PolicySet.from_str(text)
    rtype = {ResourceKind.ENDPOINT: "Endpoint", ResourceKind.MODEL_VERSION: "ModelVersion"}
    cedar_reqs = [
        {
            "principal": {"type": ptype[p.kind], "id": p.id.split(":", 1)[1]},
            "action": {"type": "Action", "id": a.value},
            "resource": {"type": rtype[r.kind], "id": r.id},
        }
        for p, a, r in requests
    ]

    engine = PolicyEngine(PolicyStore(policy_dir, resources=resources))
    print(
        f"{len(ents)} entities ({args.principals} principals, {args.resources} resources), "
        f"{len(policy_set)} policies, {args.requests} requests"
    )
    if importlib.util.find_spec("regorus") is None:
        print("regorus: not installed and not on this machine's package index; left out")

    results: dict[str, dict[str, float]] = {}
    decisions: dict[str, list[bool]] = {}
    gc.collect()
    gc.freeze()

    n_text = min(args.requests, 5_000)
    med, p99, out = _time(
        [partial(cedarpy.is_authorized, q, text, entities) for q in cedar_reqs[:n_text]]
    )
    results["cedarpy-text"] = {"median_us": med, "p99_us": p99, "requests": n_text}
    med, p99, out = _time(
        [partial(cedarpy.is_authorized, q, policy_set, entities) for q in cedar_reqs]
    )
    results["cedarpy-preparsed"] = {"median_us": med, "p99_us": p99, "requests": args.requests}
    decisions["cedarpy"] = [r.allowed for r in out]

    warm = requests[: args.warm_pairs]
    for p, a, r in warm:  # the warm pairs, seen once before
        engine.decide(p, a, r)
    med, p99, _ = _time(
        [partial(engine.decide, *warm[i % len(warm)]) for i in range(args.requests)]
    )
    results["bastion-warm"] = {"median_us": med, "p99_us": p99, "requests": args.requests}

    engine_random = PolicyEngine(PolicyStore(policy_dir, resources=resources))
    med, p99, out = _time([partial(engine_random.decide, *x) for x in requests])
    results["bastion-random"] = {"median_us": med, "p99_us": p99, "requests": args.requests}
    decisions["bastion"] = [d.allowed for d in out]

    with tempfile.TemporaryDirectory(prefix="bastion-authz-bench-") as tmp:
        ws, _ = init_workspace(get_settings(home=Path(tmp) / "home"))
        try:
            rec = LedgerRecorder(ws.ledger, batch=256)
            engine_l = PolicyEngine(PolicyStore(policy_dir, resources=resources), recorder=rec)
            med, p99, out = _time([partial(engine_l.decide, *x) for x in requests])
            rec.flush()
            results["bastion-ledgered"] = {
                "median_us": med,
                "p99_us": p99,
                "requests": args.requests,
                "ledgered": rec.recorded,
            }
            assert all(d.allowed == c for d, c in zip(out, decisions["cedarpy"], strict=True))
        finally:
            ws.close()

    agree = sum(a == b for a, b in zip(decisions["bastion"], decisions["cedarpy"], strict=True))
    allowed = sum(decisions["cedarpy"])
    floor = results["cedarpy-preparsed"]["median_us"]
    rows = [
        (name, f"{r['median_us']:.1f}", f"{r['p99_us']:.1f}", f"{r['median_us'] / floor:.2f}x")
        for name, r in results.items()
    ]
    print_table(["contender", "median us", "p99 us", "vs cedarpy pre-parsed"], rows)
    print(
        f"agreement with cedarpy: {agree}/{args.requests} ({allowed} allowed); "
        f"goal: bastion median under 40 us"
    )
    out_path = write_results(
        "authz_decide",
        {
            "requests": args.requests,
            "entities": len(ents),
            "policies": len(policy_set),
            "regorus": "not available on this machine's package index",
            "agreement": agree,
            "allowed": allowed,
            "results": results,
        },
    )
    print(f"results: {out_path}")


if __name__ == "__main__":
    main()
