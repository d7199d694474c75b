"""The published JSON Schema: well formed, strict, and in agreement with the loader.

``jsonschema`` is not a dependency, so a small validator for the keywords pydantic emits
checks the example against the schema; any keyword it does not know fails the test, so
a schema change cannot slip past it unchecked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from bastion.manifest import SCHEMA_ID, manifest_json_schema

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-scoring" / "system.yaml"
KNOWN = {
    "$defs", "$id", "$ref", "$schema", "additionalProperties", "anyOf", "const", "default",
    "description", "enum", "items", "minItems", "minLength", "pattern", "properties",
    "required", "title", "type",
}  # fmt: skip
TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _type_ok(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$") -> list[str]:
    unknown = set(schema) - KNOWN
    assert not unknown, f"validator does not know {unknown} at {at}"
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        return errors(value, root["$defs"][ref.removeprefix("#/$defs/")], root, at)
    if "anyOf" in schema:
        if all(errors(value, s, root, at) for s in schema["anyOf"]):
            return [f"{at}: matches no alternative"]
        return []
    out: list[str] = []
    if "type" in schema and not _type_ok(value, schema["type"]):
        return [f"{at}: not of type {schema['type']}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} not in enum")
    if "const" in schema and value != schema["const"]:
        out.append(f"{at}: {value!r} != const")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            out.append(f"{at}: too short")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{at}: too few items")
        for i, item in enumerate(value):
            out += errors(item, schema.get("items", {}), root, f"{at}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{at}: missing {k}" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                out += errors(item, props[key], root, f"{at}.{key}")
            elif extra is False:
                out.append(f"{at}: unknown {key}")
            elif isinstance(extra, dict):
                out += errors(item, extra, root, f"{at}.{key}")
    return out


def test_schema_header_and_json_round_trip() -> None:
    schema = manifest_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"] == "Bastion system manifest (bastion/v1)"
    assert json.loads(json.dumps(schema)) == schema
    assert schema["required"] == ["apiVersion", "kind", "system"]
    assert schema["properties"]["apiVersion"]["const"] == "bastion/v1"


def test_every_object_is_closed_and_every_ref_resolves() -> None:
    schema = manifest_json_schema()
    defs = schema["$defs"]
    assert {"Asset", "DataFlow", "TrustBoundary", "SystemInfo", "Classification"} <= set(defs)
    assert defs["Classification"]["enum"] == ["public", "internal", "confidential", "restricted"]
    for name, sub in [("$", schema), *defs.items()]:
        if sub.get("type") == "object":
            assert sub["additionalProperties"] is False, name
    refs = re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(schema))
    assert refs
    assert set(refs) <= set(defs)


def test_example_validates_against_schema() -> None:
    schema = manifest_json_schema()
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert errors(data, schema, schema) == []


def test_schema_rejects_what_the_loader_rejects() -> None:
    schema = manifest_json_schema()
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["assets"][0]["clasification"] = "public"
    data["assets"][1]["kind"] = "robot"
    data["system"]["id"] = "Not A Slug"
    del data["kind"]
    assert set(errors(data, schema, schema)) == {
        "$: missing kind",
        "$.assets[0]: unknown clasification",
        "$.assets[1].kind: 'robot' not in enum",
        "$.system.id: 'Not A Slug' does not match ^[a-z0-9][a-z0-9._-]{0,62}$",
    }
