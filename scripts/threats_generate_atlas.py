"""Generate src/bastion/threats/data/atlas.json from MITRE ATLAS's dist/ATLAS.yaml.

Bastion ships only what its rules and the Navigator layer need (IDs, names, tactic links,
mitigation links), not the descriptions. Run it when ATLAS publishes a new version:

    .venv/bin/python scripts/threats_generate_atlas.py /work/shared/data/atlas/ATLAS.yaml

Known quirk of ATLAS 5.6.0: mitigations AML.M0018 and AML.M0034 list technique entries
inside ``ml-lifecycle``; those entries are moved back to the mitigation's technique links
(and reported), everything else in ``ml-lifecycle`` must be a string.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent.parent / "src" / "bastion" / "threats" / "data" / "atlas.json"
_ID = {
    "tactic": re.compile(r"^AML\.TA\d{4}$"),
    "technique": re.compile(r"^AML\.T\d{4}(\.\d{3})?$"),
    "mitigation": re.compile(r"^AML\.M\d{4}$"),
}


def _shortname(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def generate(source: Path) -> dict[str, Any]:
    doc = yaml.load(source.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    matrix = doc["matrices"][0]
    tactics = [
        {"id": t["id"], "name": t["name"], "shortname": _shortname(t["name"])}
        for t in matrix["tactics"]
    ]
    techniques = [
        {
            "id": t["id"],
            "name": t["name"],
            "tactics": list(t.get("tactics", [])),
            "parent": t.get("subtechnique-of"),
        }
        for t in matrix["techniques"]
    ]
    mitigations = []
    fixed: list[str] = []
    for m in matrix["mitigations"]:
        links = [x["id"] for x in m.get("techniques", [])]
        for entry in m.get("ml-lifecycle", []):
            if isinstance(entry, dict) and "id" in entry:
                links.append(entry["id"])
                fixed.append(f"{m['id']}: technique {entry['id']} moved out of ml-lifecycle")
            elif not isinstance(entry, str):
                raise SystemExit(f"{m['id']}: unexpected ml-lifecycle entry {entry!r}")
        mitigations.append({"id": m["id"], "name": m["name"], "techniques": sorted(set(links))})
    for kind, items in (
        ("tactic", tactics),
        ("technique", techniques),
        ("mitigation", mitigations),
    ):
        for it in items:
            if not _ID[kind].match(it["id"]):
                raise SystemExit(f"bad {kind} id {it['id']!r}")
    return {
        "format": "bastion.atlas/v1",
        "atlas_version": str(doc["version"]),
        "source": "https://github.com/mitre-atlas/atlas-data (dist/ATLAS.yaml)",
        "license": "Apache-2.0",
        "attribution": "MITRE ATLAS (TM), Copyright The MITRE Corporation. "
        "Licensed under the Apache License, Version 2.0. IDs and names only.",
        "quirks_fixed": fixed,
        "tactics": tactics,
        "techniques": techniques,
        "mitigations": mitigations,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    data = generate(Path(argv[0]))
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"wrote {OUT}: ATLAS {data['atlas_version']}, {len(data['tactics'])} tactics, "
        f"{len(data['techniques'])} techniques, {len(data['mitigations'])} mitigations; "
        f"{len(data['quirks_fixed'])} quirk(s) fixed"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
