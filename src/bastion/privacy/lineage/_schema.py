"""The OpenLineage 2-0-2 RunEvent, as a JSON Schema (2020-12) for what Bastion emits.

Written here from the published spec (``https://openlineage.io/spec/2-0-2/OpenLineage.json``
and the SchemaDatasetFacet 1-1-1, ColumnLineageDatasetFacet 1-2-0, DatasetVersion 1-0-1
facets): the required fields, their types and the facets' shapes. openlineage-python
ships no schema (and would bring requests and a second HTTP client), so every event is
checked against this one before it is stored or sent."""

from __future__ import annotations

from typing import Any

__all__ = [
    "COLUMN_LINEAGE_URL",
    "DATASET_VERSION_URL",
    "RUN_EVENT_SCHEMA",
    "RUN_EVENT_URL",
    "SCHEMA_FACET_URL",
]

RUN_EVENT_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
SCHEMA_FACET_URL = (
    "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
)
COLUMN_LINEAGE_URL = (
    "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"
    "#/$defs/ColumnLineageDatasetFacet"
)
DATASET_VERSION_URL = (
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json"
    "#/$defs/DatasetVersionDatasetFacet"
)

_URI = {"type": "string", "format": "uri", "minLength": 1}
_BASE_FACET: dict[str, Any] = {
    "type": "object",
    "properties": {"_producer": _URI, "_schemaURL": _URI},
    "required": ["_producer", "_schemaURL"],
}
_FACETS = {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}}
_FIELD: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string"},
        "description": {"type": "string"},
    },
    "required": ["name"],
}
_TRANSFORMATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["DIRECT", "INDIRECT"]},
        "subtype": {"type": "string"},
        "description": {"type": "string"},
        "masking": {"type": "boolean"},
    },
    "required": ["type"],
}
_INPUT_FIELD: dict[str, Any] = {
    "type": "object",
    "properties": {
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "field": {"type": "string"},
        "transformations": {"type": "array", "items": _TRANSFORMATION},
    },
    "required": ["namespace", "name", "field"],
}
_DATASET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "namespace": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "facets": {
            "type": "object",
            "properties": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/$defs/BaseFacet"},
                        {
                            "type": "object",
                            "properties": {"fields": {"type": "array", "items": _FIELD}},
                        },
                    ]
                },
                "columnLineage": {
                    "allOf": [
                        {"$ref": "#/$defs/BaseFacet"},
                        {
                            "type": "object",
                            "properties": {
                                "fields": {
                                    "type": "object",
                                    "additionalProperties": {
                                        "type": "object",
                                        "properties": {
                                            "inputFields": {
                                                "type": "array",
                                                "items": _INPUT_FIELD,
                                            }
                                        },
                                        "required": ["inputFields"],
                                    },
                                }
                            },
                            "required": ["fields"],
                        },
                    ]
                },
                "version": {
                    "allOf": [
                        {"$ref": "#/$defs/BaseFacet"},
                        {
                            "type": "object",
                            "properties": {"datasetVersion": {"type": "string"}},
                            "required": ["datasetVersion"],
                        },
                    ]
                },
            },
            "additionalProperties": {"$ref": "#/$defs/BaseFacet"},
        },
    },
    "required": ["namespace", "name"],
}

RUN_EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {"BaseFacet": _BASE_FACET},
    "type": "object",
    "properties": {
        "eventType": {
            "type": "string",
            "enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"],
        },
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": _URI,
        "schemaURL": _URI,
        "run": {
            "type": "object",
            "properties": {
                "runId": {
                    "type": "string",
                    "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                },
                "facets": _FACETS,
            },
            "required": ["runId"],
        },
        "job": {
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1},
                "facets": _FACETS,
            },
            "required": ["namespace", "name"],
        },
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
}
