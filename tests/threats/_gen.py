"""Generated systems for noise-budget tests and the benchmark: N copies of the example.

Each copy renames every id with a suffix, so the generated system has the example's mix
of element kinds, boundaries and controls, and ``copies * 32`` elements.
"""

from __future__ import annotations

from typing import Any

import yaml

from bastion.manifest import SystemManifest
from tests.conftest import EXAMPLE_MANIFEST


def example_dict() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE_MANIFEST.read_text(encoding="utf-8"))
    return data


def generated_dict(copies: int) -> dict[str, Any]:
    base = example_dict()
    out: dict[str, Any] = {
        "apiVersion": base["apiVersion"],
        "kind": base["kind"],
        "system": base["system"] | {"id": f"generated-{copies}"},
        "assets": [],
        "flows": [],
        "boundaries": [],
    }
    for i in range(copies):

        def s(x: str, i: int = i) -> str:
            return f"{x}-{i}"

        out["assets"] += [a | {"id": s(a["id"])} for a in base["assets"]]
        out["flows"] += [
            f | {"id": s(f["id"]), "source": s(f["source"]), "target": s(f["target"])}
            for f in base["flows"]
        ]
        out["boundaries"] += [
            b
            | {
                "id": s(b["id"]),
                "assets": [s(x) for x in b.get("assets", [])],
                "boundaries": [s(x) for x in b.get("boundaries", [])],
            }
            for b in base["boundaries"]
        ]
    return out


def generated_system(copies: int) -> SystemManifest:
    return SystemManifest.model_validate(generated_dict(copies))


# -- randomized topologies ---------------------------------------------------------------
# Which kinds plausibly send data to which: a random system is wired only along these, so
# it looks like a real AI system (data feeds training, endpoints call models, agents call
# tools), with random controls, classifications, boundaries and fan-in/fan-out.
_EDGES: dict[str, tuple[str, ...]] = {
    "external_service": ("data_store", "dataset", "agent"),
    "data_store": ("feature_store", "dataset", "model", "inference_endpoint", "vector_store"),
    "feature_store": ("dataset", "inference_endpoint"),
    "dataset": ("training_pipeline",),
    "training_pipeline": ("data_store", "model"),
    "model": ("inference_endpoint",),
    "inference_endpoint": ("model", "human_actor", "agent"),
    "human_actor": ("inference_endpoint", "agent"),
    "agent": ("third_party_model_api", "tool", "human_actor", "data_store"),
    "third_party_model_api": ("agent", "inference_endpoint"),
    "vector_store": ("agent",),
    "tool": ("human_actor", "data_store"),
}
_KIND_WEIGHTS = {
    "model": 3, "dataset": 2, "feature_store": 1, "vector_store": 1, "training_pipeline": 1,
    "inference_endpoint": 2, "third_party_model_api": 1, "agent": 2, "tool": 2,
    "data_store": 3, "human_actor": 2, "external_service": 1,
}  # fmt: skip
_EXTERNAL = {"human_actor", "external_service", "third_party_model_api"}
_CLASSES = ("public", "internal", "confidential", "restricted")
_AUTH = ("none", "api_key", "oauth2", "mtls", "iam", "password", "sso")
_PII = ("name", "contact", "financial", "location", "health", "government_id")
_PROTO = ("https", "grpc", "sql", "s3", "kafka", "http", "amqp")


def _props(kind: str, rnd: Any) -> dict[str, Any]:
    """Properties the rules look at, each present or not, so rules fire and are mitigated."""
    maybe: dict[str, Any] = {
        "model": {"format": rnd.choice(["pickle", "onnx", "safetensors", "torch-state-dict"]),
                  "role": rnd.choice(["champion", "challenger", "shadow", "primary"]),
                  "signature_verified": rnd.random() < 0.4,
                  "adversarial_training": rnd.random() < 0.2},
        "inference_endpoint": {"rate_limit_per_minute": rnd.choice([None, 100, 600]),
                               "decision_log": rnd.random() < 0.5,
                               "returns_labels_only": rnd.random() < 0.3,
                               "image_signed": rnd.random() < 0.4},
        "agent": {"max_tool_calls": rnd.choice([None, 3, 10]),
                  "human_review": rnd.random() < 0.5, "prompt_log": rnd.random() < 0.3},
        "tool": {"input_validation": rnd.random() < 0.5, "audit_log": rnd.random() < 0.5,
                 "can_send_mail": rnd.random() < 0.3},
        "training_pipeline": {"network_egress": rnd.random() < 0.3,
                              "provenance_attested": rnd.random() < 0.4,
                              "schedule": rnd.choice([None, "daily", "weekly"])},
        "data_store": {"audit_log": rnd.random() < 0.5, "backup": rnd.random() < 0.6,
                       "record_count": rnd.choice([None, 1000, 250_000])},
        "dataset": {"provenance_verified": rnd.random() < 0.4,
                    "rows": rnd.choice([None, 5000, 2_000_000])},
        "feature_store": {"audit_log": rnd.random() < 0.5},
        "vector_store": {"ingestion_filtered": rnd.random() < 0.4,
                         "rebuildable": rnd.random() < 0.5},
        "human_actor": {"mfa": rnd.random() < 0.6},
        "external_service": {"input_validation": rnd.random() < 0.4,
                             "sla": rnd.choice([None, "99.9%"])},
        "third_party_model_api": {"used_for_training": rnd.random() < 0.3,
                                  "data_retention_days": rnd.choice([None, 0, 30]),
                                  "model_version_pinned": rnd.random() < 0.4},
    }[kind]  # fmt: skip
    return {k: v for k, v in maybe.items() if v is not None and rnd.random() < 0.8}


def random_dict(elements: int, seed: int) -> dict[str, Any]:
    """A seeded random system of about ``elements`` assets plus flows (about half each),
    wired along plausible edges, in random nested trust boundaries."""
    import random

    rnd = random.Random(seed)
    kinds = list(_KIND_WEIGHTS)
    weights = [_KIND_WEIGHTS[k] for k in kinds]
    n_assets = elements // 2
    assets: list[dict[str, Any]] = []
    by_kind: dict[str, list[str]] = {k: [] for k in kinds}
    for i in range(n_assets):
        kind = kinds[i] if i < len(kinds) else rnd.choices(kinds, weights)[0]  # each kind once
        aid = f"{kind.replace('_', '-')}-{i}"
        cls = rnd.choice(_CLASSES)
        a: dict[str, Any] = {
            "id": aid,
            "kind": kind,
            "name": f"{kind} {i}",
            "owner": f"team-{rnd.randrange(20)}@corp.example",
            "classification": cls,
            "authentication": rnd.choice(_AUTH),
            "encryption": {"at_rest": rnd.random() < 0.7, "in_transit": rnd.random() < 0.8},
            "properties": _props(kind, rnd),
        }
        if kind not in ("model", "tool", "training_pipeline") and rnd.random() < 0.3:
            a["pii_categories"] = rnd.sample(_PII, rnd.randint(1, 3))
        if kind != "human_actor":
            a["hosting"] = {"environment": rnd.choice(["on_prem", "cloud", "saas", "edge"])}
        assets.append(a)
        by_kind[kind].append(aid)
    flows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    kind_of = {a["id"]: a["kind"] for a in assets}
    ids = [a["id"] for a in assets]
    tries = 0
    while len(flows) < elements - n_assets and tries < 50 * elements:
        tries += 1
        src = rnd.choice(ids)
        targets = [t for k in _EDGES[kind_of[src]] for t in by_kind[k] if t != src]
        if not targets:
            continue
        dst = rnd.choice(targets)
        if (src, dst) in seen:
            continue
        seen.add((src, dst))
        flows.append(
            {
                "id": f"flow-{len(flows)}",
                "source": src,
                "target": dst,
                "protocol": rnd.choice(_PROTO),
                "classification": rnd.choice(_CLASSES),
                "authentication": rnd.choice(_AUTH),
                "encryption": {"in_transit": rnd.random() < 0.8},
            }
        )
    # Trust boundaries: a few networks nested in an organization, a process boundary per
    # serving group, and one organization per external party out on the internet.
    internal = [a["id"] for a in assets if a["kind"] not in _EXTERNAL]
    external = [a["id"] for a in assets if a["kind"] in _EXTERNAL and a["kind"] != "human_actor"]
    humans = [a["id"] for a in assets if a["kind"] == "human_actor"]
    zones = [f"zone-{z}" for z in range(max(2, n_assets // 40))]
    members: dict[str, list[str]] = {z: [] for z in zones}
    for aid in internal:
        members[rnd.choice(zones)].append(aid)
    vendors = [f"vendor-{v}" for v in range(max(1, len(external) // 5))]
    vmembers: dict[str, list[str]] = {v: [] for v in vendors}
    for aid in external:
        vmembers[rnd.choice(vendors)].append(aid)
    boundaries = [
        {"id": "corp", "name": "Corporate", "kind": "organization", "assets": humans,
         "boundaries": zones},
        *({"id": z, "name": z, "kind": rnd.choice(["network", "process", "account"]),
           "assets": members[z]} for z in zones),
        {"id": "internet", "name": "Internet", "kind": "network", "boundaries": vendors},
        *({"id": v, "name": v, "kind": "organization", "assets": vmembers[v]} for v in vendors),
    ]  # fmt: skip
    base = example_dict()
    return {
        "apiVersion": base["apiVersion"],
        "kind": base["kind"],
        "system": base["system"] | {"id": f"random-{seed}"},
        "assets": assets,
        "flows": flows,
        "boundaries": boundaries,
    }


def random_system(elements: int, seed: int) -> SystemManifest:
    return SystemManifest.model_validate(random_dict(elements, seed))
