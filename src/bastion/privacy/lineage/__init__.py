"""Lineage (issue 9 section 8): OpenLineage run events for every transformation the room
performs (masking, DP releases and training, synthetic generation: through the one hook
:func:`record_lineage`) or wraps (:func:`lineage_run`), validated against the RunEvent
JSON Schema, stored with their edges, exported to a file or an OpenLineage endpoint; the
graph's upstream / downstream walks, the models a dataset reached, and an SVG of it."""

from bastion.privacy.lineage._emit import ExportResult, export_events
from bastion.privacy.lineage._events import (
    JOB_NAMESPACE,
    PRODUCER,
    ColumnMap,
    DatasetRef,
    LineageRun,
    StoredEvent,
    build_event,
    lineage_run,
    list_events,
    record_event,
    record_lineage,
    validate_event,
)
from bastion.privacy.lineage._graph import LineageGraph, graph_svg, impacted, lineage_graph
from bastion.privacy.lineage._hooks import (
    dp_release_lineage,
    dp_training_lineage,
    masking_lineage,
    synthetic_lineage,
)
from bastion.privacy.lineage._schema import RUN_EVENT_SCHEMA

__all__ = [
    "JOB_NAMESPACE",
    "PRODUCER",
    "RUN_EVENT_SCHEMA",
    "ColumnMap",
    "DatasetRef",
    "ExportResult",
    "LineageGraph",
    "LineageRun",
    "StoredEvent",
    "build_event",
    "dp_release_lineage",
    "dp_training_lineage",
    "export_events",
    "graph_svg",
    "impacted",
    "lineage_graph",
    "lineage_run",
    "list_events",
    "masking_lineage",
    "record_event",
    "record_lineage",
    "synthetic_lineage",
    "validate_event",
]
