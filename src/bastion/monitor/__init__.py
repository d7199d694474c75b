"""Monitoring (issue 12, sections 1 and 2): the OCSF inference log schema, formatters
(ECS, CEF, RFC 5424 syslog), sinks (file, syslog, HTTP, Redis stream) with a bounded
on-disk spool for at-least-once delivery, and streaming drift detection with the
``monitor.drift`` check. docs/monitor.md describes the schema, the extension and the
security defaults."""

from __future__ import annotations

from bastion.monitor._checks import (
    DriftCheck,
    DriftData,
    FeatureDriftData,
    record_drift,
    run_drift,
)
from bastion.monitor.drift import (
    AlertPolicy,
    DriftAlert,
    DriftReport,
    FeatureDrift,
    ReferenceProfile,
    StreamingDrift,
    alert_finding,
    benjamini_hochberg,
    jensen_shannon,
    psi,
)
from bastion.monitor.formatters import to_cef, to_ecs, to_json, to_syslog
from bastion.monitor.interface import (
    ATLAS_TECHNIQUES,
    EXTENSION,
    OCSF_VERSION,
    Actor,
    ApiActivity,
    Authentication,
    DetectionFinding,
    Inference,
    InputMode,
    InputPolicy,
    ModelRef,
    OcsfEvent,
    Severity,
    Sink,
    SinkError,
    SpoolFullError,
    input_hash_key,
)
from bastion.monitor.performance import PerformanceMonitor, PerformanceReport, wilson_interval
from bastion.monitor.report import drift_html
from bastion.monitor.sinks import (
    FileSink,
    HttpSink,
    RedisStreamSink,
    SinkKind,
    SpooledSink,
    SyslogSink,
    as_ocsf,
    open_sink,
)
from bastion.monitor.tables import Table, read_table

__all__ = [
    "ATLAS_TECHNIQUES",
    "EXTENSION",
    "OCSF_VERSION",
    "Actor",
    "AlertPolicy",
    "ApiActivity",
    "Authentication",
    "DetectionFinding",
    "DriftAlert",
    "DriftCheck",
    "DriftData",
    "DriftReport",
    "FeatureDrift",
    "FeatureDriftData",
    "FileSink",
    "HttpSink",
    "Inference",
    "InputMode",
    "InputPolicy",
    "ModelRef",
    "OcsfEvent",
    "PerformanceMonitor",
    "PerformanceReport",
    "RedisStreamSink",
    "ReferenceProfile",
    "Severity",
    "Sink",
    "SinkError",
    "SinkKind",
    "SpoolFullError",
    "SpooledSink",
    "StreamingDrift",
    "SyslogSink",
    "Table",
    "alert_finding",
    "as_ocsf",
    "benjamini_hochberg",
    "drift_html",
    "input_hash_key",
    "jensen_shannon",
    "open_sink",
    "psi",
    "read_table",
    "record_drift",
    "run_drift",
    "to_cef",
    "to_ecs",
    "to_json",
    "to_syslog",
    "wilson_interval",
]
