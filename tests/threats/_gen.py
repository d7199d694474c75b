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
