"""Detections over the event stream (issue 12, section 3): stateful rules that read OCSF
events (dicts, as the sinks ship them) and emit OCSF Detection Findings (2004) with MITRE
ATLAS technique IDs.

The rules: probing and extraction findings from the guard (promoted to detections, one per
principal and window), bursts of denials per principal (sliding window), unusual download
or export of model weights (a principal never seen exporting, or volume over its own
baseline), access outside a principal's working hours (per principal, in its time zone),
and drift together with a new client. Each rule registers itself by subclassing
:class:`Rule`; :func:`detect_events` records every detection as a ``monitor.detection``
ledger event. docs/monitor.md ("Detections") describes each rule and its settings.
"""

from __future__ import annotations

import enum
import logging
import math
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bastion.core.documents import load_document
from bastion.core.errors import InputError
from bastion.monitor.interface import Actor, DetectionFinding, ModelRef, Severity, Sink, SinkError

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = [
    "ANALYTIC_PREFIX",
    "DetectingSink",
    "Detection",
    "DetectionConfig",
    "DetectionEngine",
    "DetectionKind",
    "Rule",
    "WorkingHours",
    "detect_events",
    "field_value",
    "ledger_recorder",
    "load_detection_config",
    "rules",
]

_log = logging.getLogger(__name__)

#: The analytic name of every finding a rule emits: ``bastion.detect.<kind>``. Findings
#: with this prefix are never fed back into the rules (no detection of detections).
ANALYTIC_PREFIX = "bastion.detect."
MAX_CONFIG_BYTES = 256 * 1024
MAX_TIME_MS = 32_503_680_000_000  # 3000-01-01: beyond, no plausible event time
MAX_TRACKED = 100_000  # principals / clients a rule keeps state for (oldest evicted)


class DetectionKind(enum.StrEnum):
    """What a detection is about; playbooks trigger on these."""

    PROBING = "probing"
    EXTRACTION = "extraction"
    DENIAL_BURST = "denial_burst"
    WEIGHT_EXPORT = "weight_export"
    OFF_HOURS = "off_hours"
    DRIFT_NEW_CLIENT = "drift_new_client"


def field_value(event: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of an OCSF event (``actor.user.name``), or None."""
    cur: Any = event
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _principal(event: Mapping[str, Any]) -> str | None:
    for path in ("actor.user.name", "user.name"):
        v = field_value(event, path)
        if isinstance(v, str) and v:
            return v
    return None


def _client(event: Mapping[str, Any]) -> str | None:
    ip = field_value(event, "src_endpoint.ip")
    if isinstance(ip, str) and ip:
        return ip
    return _principal(event)


def _time_ms(event: Mapping[str, Any]) -> int:
    t = event.get("time")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise InputError("event: 'time' (epoch milliseconds) is missing")
    if not 0 <= t < MAX_TIME_MS:
        raise InputError("event: 'time' is not an epoch time in milliseconds")
    return int(t)


def _uid(event: Mapping[str, Any]) -> str | None:
    v = field_value(event, "metadata.uid")
    return v[:128] if isinstance(v, str) and v else None


def _techniques(event: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    attacks = field_value(event, "finding_info.attacks")
    if isinstance(attacks, list):
        for a in attacks:
            uid = field_value(a, "technique.uid") if isinstance(a, Mapping) else None
            if isinstance(uid, str):
                out.add(uid)
    return out


# -- configuration ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WorkingHours(_Strict):
    """When a principal works: days, a start and an end (``HH:MM``, local time in
    ``timezone``, an IANA name). An end before the start spans midnight."""

    timezone: str = "UTC"
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = "08:00"
    end: str = "19:00"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known IANA time zone") from None
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in v if d not in _DAYS]
        if bad or not v:
            raise ValueError(f"days must be a non-empty list of {', '.join(_DAYS)}")
        return v

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("expected HH:MM (24-hour)")
        return v

    def covers(self, time_ms: int) -> bool:
        local = datetime.fromtimestamp(time_ms / 1000, UTC).astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        sh, sm = map(int, self.start.split(":"))
        eh, em = map(int, self.end.split(":"))
        start, end = sh * 60 + sm, eh * 60 + em
        day = _DAYS[local.weekday()]
        if start <= end:
            return day in self.days and start <= minute < end
        # spans midnight: the early hours belong to the previous day's shift
        if minute >= start:
            return day in self.days
        prev = _DAYS[(local.weekday() - 1) % 7]
        return minute < end and prev in self.days


class DetectionConfig(_Strict):
    """Settings of the rules (YAML: ``bastion monitor detect --config FILE``)."""

    #: probing / extraction: one detection per principal and kind within this many seconds
    dedupe_seconds: int = Field(300, ge=1, le=86_400)
    #: denial bursts: this many refused calls by one principal within the window
    denial_threshold: int = Field(5, ge=2, le=100_000)
    denial_window_seconds: int = Field(60, ge=1, le=86_400)
    #: API operations that download or export model weights
    export_operations: tuple[str, ...] = (
        "download",
        "export",
        "download_weights",
        "export_model",
        "model.download",
        "model.export",
    )
    #: principals expected to export (a first export by anyone else is a detection)
    known_exporters: tuple[str, ...] = ()
    #: volume: a principal's exported bytes in a window over ``export_factor`` times the
    #: mean of its earlier windows (and at least ``export_min_bytes``)
    export_window_seconds: int = Field(86_400, ge=60, le=30 * 86_400)
    export_factor: float = Field(3.0, gt=1.0, le=1000.0)
    export_min_bytes: int = Field(1 << 20, ge=0)
    #: working hours per principal; ``default_hours`` for everyone else (None: no rule)
    working_hours: dict[str, WorkingHours] = Field(default_factory=dict)
    default_hours: WorkingHours | None = None
    #: drift with a new client: clients first seen this long before a drift finding
    new_client_window_seconds: int = Field(3600, ge=1, le=30 * 86_400)
    #: clients seen in the stream's first this many seconds are the baseline, not new
    baseline_seconds: int = Field(0, ge=0, le=365 * 86_400)
    known_clients: tuple[str, ...] = ()

    def hours_for(self, principal: str) -> WorkingHours | None:
        return self.working_hours.get(principal, self.default_hours)


def load_detection_config(text: str | bytes, *, what: str = "detection config") -> DetectionConfig:
    """A :class:`DetectionConfig` from YAML (size-limited, aliases refused, the first bad
    field named)."""
    return load_document(text, DetectionConfig, what=what, max_bytes=MAX_CONFIG_BYTES)


# -- detections and rules --------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """What a rule found: its kind, who, the ATLAS techniques, and the events it rests on."""

    kind: DetectionKind
    rule: str
    title: str
    severity: Severity
    time_ms: int
    principal: str | None = None
    client_ip: str | None = None
    model: str | None = None
    techniques: tuple[str, ...] = ()
    events: tuple[str, ...] = ()  # metadata.uid of the events it rests on
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        """The finding's ``finding_info.uid``: kind, who and the window it opened in."""
        who = self.principal or self.client_ip or self.model or "-"
        return f"{self.kind.value}:{who}:{self.time_ms}"

    def finding(self) -> DetectionFinding:
        """The OCSF Detection Finding; strings cut to the schema's limits (a detection
        about a principal with an absurd name is still reported)."""
        ip = self.client_ip[:64] if self.client_ip else None
        actor = Actor(self.principal[:1024], client_ip=ip) if self.principal else None
        evidence: dict[str, Any] = {"kind": self.kind.value, "rule": self.rule}
        if self.events:
            evidence["events"] = list(self.events[:100])
        evidence.update(self.details)
        return DetectionFinding(
            title=self.title[:1024],
            finding_uid=self.uid[:128],
            severity=self.severity,
            techniques=self.techniques,
            analytic=ANALYTIC_PREFIX + self.kind.value,
            actor=actor,
            model=ModelRef(self.model[:1024]) if self.model else None,
            evidence=evidence,
            time_ms=self.time_ms,
            message=self.title[:1024],
        )

    def to_ocsf(self) -> dict[str, Any]:
        return self.finding().to_ocsf()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity.name.lower(),
            "time_ms": self.time_ms,
            "principal": self.principal,
            "client_ip": self.client_ip,
            "model": self.model,
            "techniques": list(self.techniques),
            "events": list(self.events[:100]),
            "details": dict(self.details),
            "finding_uid": self.uid[:128],
        }


_RULES: dict[str, type[Rule]] = {}


class Rule:
    """A detection rule. Subclasses register themselves (``id`` must be unique) and keep
    their state per instance: one :class:`DetectionEngine` holds one instance of each."""

    id: ClassVar[str]
    kind: ClassVar[DetectionKind]
    title: ClassVar[str]
    techniques: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.id in _RULES:
            raise TypeError(f"detection rule {cls.id} is defined twice")
        _RULES[cls.id] = cls

    def __init__(self, config: DetectionConfig) -> None:
        self.config = config

    def observe(self, event: Mapping[str, Any]) -> list[Detection]:
        raise NotImplementedError


def rules() -> list[type[Rule]]:
    """Every registered rule, by id (for documentation and listings)."""
    return [_RULES[k] for k in sorted(_RULES)]


def _bounded(d: dict[Any, Any]) -> None:
    while len(d) > MAX_TRACKED:
        d.pop(next(iter(d)))


class GuardFindingRule(Rule):
    """Probing and extraction findings the guard emitted, one detection per principal and
    kind within ``dedupe_seconds`` (the guard reports every suspicious request)."""

    id = "guard-findings"
    kind = DetectionKind.EXTRACTION
    title = "Model probing or extraction reported by the guard"
    techniques = ("AML.T0024.002", "AML.T0040")
    description = (
        "A Detection Finding from the guard naming extraction (AML.T0024, its sub-techniques, "
        "or an analytic with 'extraction') or probing (AML.T0040 or an analytic with "
        "'probing'). Re-raised as a detection of kind extraction or probing."
    )

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__(config)
        self.last: dict[tuple[str, str], int] = {}

    def observe(self, event: Mapping[str, Any]) -> list[Detection]:
        if event.get("class_uid") != 2004:
            return []
        analytic = str(field_value(event, "finding_info.analytic.name") or "").lower()
        title = str(field_value(event, "finding_info.title") or "")
        techs = _techniques(event)
        if analytic.startswith(ANALYTIC_PREFIX) or event.get("activity_id") == 3:
            return []
        if any(t.startswith("AML.T0024") for t in techs) or "extraction" in analytic:
            kind = DetectionKind.EXTRACTION
            found = tuple(sorted(t for t in techs if t.startswith("AML.T0024"))) or (
                "AML.T0024.002",
            )
        elif "AML.T0040" in techs or "probing" in analytic:
            kind = DetectionKind.PROBING
            found = ("AML.T0040",)
        else:
            return []
        t = _time_ms(event)
        who = _principal(event) or _client(event) or "-"
        key = (who, kind.value)
        prev = self.last.get(key)
        if prev is not None and t - prev < self.config.dedupe_seconds * 1000:
            return []
        self.last[key] = t
        _bounded(self.last)
        model = field_value(event, "ai.model.name")
        return [
            Detection(
                kind=kind,
                rule=self.id,
                title=f"{kind.value.title()} by {who}: {title}"[:1000],
                severity=Severity.HIGH,
                time_ms=t,
                principal=_principal(event),
                client_ip=field_value(event, "src_endpoint.ip"),
                model=model if isinstance(model, str) else None,
                techniques=found,
                events=tuple(u for u in (_uid(event),) if u),
                details={"source_analytic": analytic[:200]} if analytic else {},
            )
        ]


def _denied(event: Mapping[str, Any]) -> bool:
    return event.get("class_uid") in (6003, 3002) and event.get("status_id") == 2


class DenialBurstRule(Rule):
    """``denial_threshold`` refused calls (API Activity or Authentication with status
    Failure) by one principal (or client address) within ``denial_window_seconds``:
    credential stuffing, policy probing, a scraper hitting its limit."""

    id = "denial-burst"
    kind = DetectionKind.DENIAL_BURST
    title = "Burst of denied requests"
    techniques = ("AML.T0040",)
    description = (
        "N refused API Activity or Authentication events by one principal within a "
        "sliding window (denial_threshold, denial_window_seconds). One detection per burst: "
        "the window must empty before the principal can raise another."
    )

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__(config)
        self.windows: dict[str, deque[tuple[int, str | None]]] = {}
        self.raised: set[str] = set()

    def observe(self, event: Mapping[str, Any]) -> list[Detection]:
        if not _denied(event):
            return []
        who = _principal(event) or _client(event)
        if who is None:
            return []
        t = _time_ms(event)
        win = self.windows.setdefault(who, deque())
        horizon = t - self.config.denial_window_seconds * 1000
        while win and win[0][0] <= horizon:
            win.popleft()
        if not win:
            self.raised.discard(who)
        win.append((t, _uid(event)))
        _bounded(self.windows)
        if len(win) < self.config.denial_threshold or who in self.raised:
            return []
        self.raised.add(who)
        return [
            Detection(
                kind=self.kind,
                rule=self.id,
                title=(
                    f"{len(win)} denied requests by {who} within "
                    f"{self.config.denial_window_seconds} s"
                ),
                severity=Severity.MEDIUM,
                time_ms=t,
                principal=_principal(event),
                client_ip=field_value(event, "src_endpoint.ip"),
                techniques=self.techniques,
                events=tuple(u for _, u in win if u),
                details={"denials": len(win), "window_seconds": self.config.denial_window_seconds},
            )
        ]


def _bytes_out(event: Mapping[str, Any]) -> int:
    for path in ("traffic.bytes_out", "ai.export.bytes", "http_response.length"):
        v = field_value(event, path)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
    return 0


class WeightExportRule(Rule):
    """A download or export of model weights (``export_operations``) by a principal never
    seen exporting before (and not in ``known_exporters``), or a window's exported volume
    over ``export_factor`` times the principal's own mean (bytes from ``traffic.bytes_out``,
    ``ai.export.bytes`` or ``http_response.length``)."""

    id = "weight-export"
    kind = DetectionKind.WEIGHT_EXPORT
    title = "Unusual download or export of model weights"
    techniques = ("AML.T0025", "AML.T0024.002")
    description = (
        "A successful API Activity whose api.operation is an export operation, by a new "
        "exporter, or over export_factor times the principal's baseline volume per "
        "export_window_seconds window (at least export_min_bytes)."
    )

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__(config)
        self.seen: set[str] = set(config.known_exporters)
        # principal -> (current window index, bytes in it, closed windows' totals)
        self.volume: dict[str, tuple[int, int, list[int]]] = {}
        self.raised: set[tuple[str, int]] = set()

    def observe(self, event: Mapping[str, Any]) -> list[Detection]:
        if event.get("class_uid") != 6003 or event.get("status_id") != 1:
            return []
        op = field_value(event, "api.operation")
        if not isinstance(op, str) or op.lower() not in self.config.export_operations:
            return []
        who = _principal(event) or _client(event) or "-"
        t = _time_ms(event)
        n = _bytes_out(event)
        model = field_value(event, "ai.model.name")
        base = {
            "principal": _principal(event),
            "client_ip": field_value(event, "src_endpoint.ip"),
            "model": model if isinstance(model, str) else None,
            "events": tuple(u for u in (_uid(event),) if u),
        }
        out: list[Detection] = []
        if who not in self.seen:
            self.seen.add(who)
            out.append(
                Detection(
                    kind=self.kind,
                    rule=self.id,
                    title=f"first export of model weights by {who} ({op})",
                    severity=Severity.HIGH,
                    time_ms=t,
                    techniques=self.techniques,
                    details={"reason": "new_exporter", "operation": op, "bytes": n},
                    **base,
                )
            )
        idx = t // (self.config.export_window_seconds * 1000)
        cur_idx, cur, closed = self.volume.get(who, (idx, 0, []))
        if idx != cur_idx:
            closed = [*closed[-29:], cur]
            cur_idx, cur = idx, 0
        cur += n
        self.volume[who] = (cur_idx, cur, closed)
        _bounded(self.volume)
        if closed and (who, idx) not in self.raised:
            mean = sum(closed) / len(closed)
            if cur >= self.config.export_min_bytes and cur > self.config.export_factor * mean:
                self.raised.add((who, idx))
                out.append(
                    Detection(
                        kind=self.kind,
                        rule=self.id,
                        title=f"{who} exported {cur} bytes of model weights in a window "
                        f"(baseline {mean:.0f})",
                        severity=Severity.HIGH,
                        time_ms=t,
                        techniques=self.techniques,
                        details={
                            "reason": "volume",
                            "bytes": cur,
                            "baseline": round(mean, 1),
                            "factor": self.config.export_factor,
                        },
                        **base,
                    )
                )
        return out


class OffHoursRule(Rule):
    """A successful call or sign-in by a principal outside its working hours (per principal
    in ``working_hours``, or ``default_hours``), one detection per principal per hour."""

    id = "off-hours"
    kind = DetectionKind.OFF_HOURS
    title = "Access outside working hours"
    techniques = ("AML.T0040",)
    description = (
        "An API Activity or Authentication by a principal with working hours configured, "
        "outside them in the principal's own time zone."
    )

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__(config)
        self.last: dict[str, int] = {}

    def observe(self, event: Mapping[str, Any]) -> list[Detection]:
        if event.get("class_uid") not in (6003, 3002) or event.get("status_id") != 1:
            return []
        who = _principal(event)
        if who is None:
            return []
        hours = self.config.hours_for(who)
        t = _time_ms(event)
        if hours is None or hours.covers(t):
            return []
        hour = t // 3_600_000
        if self.last.get(who) == hour:
            return []
        self.last[who] = hour
        _bounded(self.last)
        local = datetime.fromtimestamp(t / 1000, UTC).astimezone(ZoneInfo(hours.timezone))
        return [
            Detection(
                kind=self.kind,
                rule=self.id,
                title=f"{who} active at {local:%a %H:%M} {hours.timezone}, outside "
                f"{hours.start}-{hours.end}",
                severity=Severity.LOW,
                time_ms=t,
                principal=who,
                client_ip=field_value(event, "src_endpoint.ip"),
                techniques=self.techniques,
                events=tuple(u for u in (_uid(event),) if u),
                details={"local_time": local.isoformat(), "timezone": hours.timezone},
            )
        ]


def _is_drift(event: Mapping[str, Any]) -> bool:
    uid = field_value(event, "finding_info.uid")
    return (
        event.get("class_uid") == 2004
        and event.get("activity_id") == 1
        and isinstance(uid, str)
        and uid.startswith("drift:")
    )


class DriftNewClientRule(Rule):
    """A drift finding on a model (``drift:<model>:...``, from ``alert_finding``) while
    clients first seen within ``new_client_window_seconds`` before it called that model:
    the shift may be someone's crafted traffic, not the world changing."""

    id = "drift-new-client"
    kind = DetectionKind.DRIFT_NEW_CLIENT
    title = "Drift together with a new client"
    techniques = ("AML.T0043",)
    description = (
        "A drift Detection Finding for a model, and clients (source address, else principal) "
        "not in known_clients, first seen after the baseline period and within "
        "new_client_window_seconds before the drift, that called the model."
    )

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__(config)
        self.start: int | None = None
        self.first_seen: dict[str, int] = {}
        self.by_model: dict[str, dict[str, int]] = defaultdict(dict)  # model -> client -> t
        self.known = set(config.known_clients)

    def observe(self, event: Mapping[str, Any]) -> list[Detection]:
        t = _time_ms(event)
        if self.start is None:
            self.start = t
        if event.get("class_uid") == 6003:
            client = _client(event)
            model = field_value(event, "ai.model.name")
            if client is not None:
                self.first_seen.setdefault(client, t)
                _bounded(self.first_seen)
                if isinstance(model, str):
                    calls = self.by_model[model]
                    calls[client] = t
                    _bounded(calls)
            return []
        if not _is_drift(event):
            return []
        uid = str(field_value(event, "finding_info.uid"))
        model = field_value(event, "ai.model.name")
        if not isinstance(model, str):
            model = uid.split(":")[1] if uid.count(":") >= 1 else ""
        horizon = t - self.config.new_client_window_seconds * 1000
        baseline_end = self.start + self.config.baseline_seconds * 1000
        new = sorted(
            c
            for c, last in self.by_model.get(model, {}).items()
            if c not in self.known
            and last >= horizon
            and self.first_seen.get(c, 0) >= horizon
            and self.first_seen.get(c, 0) > baseline_end
        )
        if not new:
            return []
        return [
            Detection(
                kind=self.kind,
                rule=self.id,
                title=f"drift on {model} with {len(new)} new client(s): {', '.join(new[:5])}",
                severity=Severity.HIGH,
                time_ms=t,
                model=model or None,
                client_ip=new[0] if len(new) == 1 else None,
                techniques=self.techniques,
                events=tuple(u for u in (_uid(event),) if u),
                details={"new_clients": [c[:256] for c in new[:100]], "drift_finding": uid[:128]},
            )
        ]


class DetectionEngine:
    """One instance of every rule (or those named), fed events in time order."""

    def __init__(
        self, config: DetectionConfig | None = None, *, only: Sequence[str] | None = None
    ) -> None:
        self.config = config or DetectionConfig()
        chosen = rules()
        if only:
            unknown = sorted(set(only) - set(_RULES))
            if unknown:
                raise InputError(
                    f"unknown detection rule(s) {', '.join(unknown)}: expected "
                    + ", ".join(sorted(_RULES))
                )
            chosen = [r for r in chosen if r.id in only]
        self.rules = [r(self.config) for r in chosen]
        self.events = 0

    def process(self, event: Mapping[str, Any]) -> list[Detection]:
        self.events += 1
        out: list[Detection] = []
        for r in self.rules:
            out.extend(r.observe(event))
        return out

    def run(self, events: Iterable[Mapping[str, Any]]) -> list[Detection]:
        out: list[Detection] = []
        for e in events:
            out.extend(self.process(e))
        return out


class DetectingSink:
    """A :class:`~bastion.monitor.interface.Sink` that runs the rules over what passes
    through it (how the guard's audit writer, or any event producer, gets detections in
    real time): each batch goes to ``sink``; once it is accepted the rules see it, and the
    Detection Findings they raise go to ``sink`` too and to ``on_detection`` (e.g.
    :func:`ledger_recorder`). The rules run only on accepted batches, so a batch re-sent
    after a failure (the spool's at-least-once retry) is not counted twice. Findings the
    sink refuses wait (at most ``max_pending``; beyond, the oldest are counted in
    ``dropped_findings`` and logged) and go first with the next batch."""

    def __init__(
        self,
        sink: Sink,
        config: DetectionConfig | None = None,
        *,
        on_detection: Callable[[Sequence[Detection]], None] | None = None,
        max_pending: int = 10_000,
    ) -> None:
        self.sink, self.engine, self.on_detection = sink, DetectionEngine(config), on_detection
        self.name = f"detecting:{sink.name}"
        self.pending: deque[dict[str, Any]] = deque()
        self.max_pending = max_pending
        self.dropped_findings = 0
        self.detections = 0

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.sink.send(events)  # SinkError propagates: nothing seen, the batch is retried
        found = [d for e in events for d in self.engine.process(e)]
        self.detections += len(found)
        if found and self.on_detection is not None:
            self.on_detection(found)
        for d in found:
            if len(self.pending) >= self.max_pending:
                self.pending.popleft()
                self.dropped_findings += 1
                _log.error("%s: finding queue full, oldest finding dropped", self.name)
            self.pending.append(d.to_ocsf())
        if self.pending:
            batch = list(self.pending)
            try:
                self.sink.send(batch)
            except SinkError as exc:
                _log.warning("%s: %d findings wait for the sink (%s)", self.name, len(batch),
                             exc.message)  # fmt: skip
                return
            for _ in batch:
                self.pending.popleft()

    def close(self) -> None:
        self.sink.close()


def ledger_recorder(
    ws: Workspace, *, actor: str = "monitor"
) -> Callable[[Sequence[Detection]], None]:
    """An ``on_detection`` callback that records each detection as a ``monitor.detection``
    ledger event."""
    from bastion.core.ledger import Event

    def record(found: Sequence[Detection]) -> None:
        ws.ledger.append([Event("monitor.detection", d.to_dict(), actor) for d in found])

    return record


def detect_events(
    ws: Workspace,
    events: Iterable[Mapping[str, Any]],
    *,
    config: DetectionConfig | None = None,
    actor: str = "system",
    source: str | None = None,
) -> list[Detection]:
    """Run the rules over ``events`` and record every detection as a ``monitor.detection``
    ledger event (its kind, who, techniques, the events it rests on; never inputs)."""
    from bastion.core.ledger import Event

    found = DetectionEngine(config).run(events)
    if found:
        ws.ledger.append(
            [
                Event(
                    "monitor.detection",
                    {**d.to_dict(), **({"source": source[:200]} if source else {})},
                    actor,
                )
                for d in found
            ]
        )
    return found
