"""Tabletop exercises (issue 12, section 6): a scenario injects a scripted sequence of
events at offsets on the session's own clock, participants record decisions against the
expected playbook's steps, and an after-action report times each step against its
deadline and is recorded as ``incidents.tabletop`` evidence.

A session is an exercise incident (``params.exercise``): the first inject opens it (as
:func:`open_from_detection` opens one from a real detection), the playbook's steps are
planned with their owners and deadlines but **no action runs** (an exercise never revokes
a token or rolls a model back). Every inject, clock jump and decision is a timeline entry
and a ledger event (``incidents.tabletop_*``); injected detections are also recorded as
``monitor.detection`` events marked ``exercise`` so the detection queue shows them.

The clock: scenario time = start + wall time elapsed x ``speed`` + the facilitator's
jumps (``advance``). Deadlines, inject offsets and decision times are in scenario time.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from bastion.core.checks import EvidenceData, RecordedCheck, record_evidence
from bastion.core.documents import load_document
from bastion.core.errors import ConflictError, InputError, NotFoundError
from bastion.core.ledger import Event
from bastion.core.types import Evidence, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.governance import parse_duration
from bastion.incidents._open import open_from_detection
from bastion.incidents._playbooks import Playbook, get_playbook
from bastion.incidents._rows import StepRow
from bastion.incidents._store import _row, get_incident, link, record
from bastion.incidents.interface import Incident, PlaybookError
from bastion.monitor import DetectionKind

__all__ = [
    "MAX_SCENARIO_BYTES",
    "AfterAction",
    "Scenario",
    "ScenarioInject",
    "TabletopCheck",
    "TabletopData",
    "TabletopSession",
    "advance",
    "after_action",
    "decide",
    "get_scenario",
    "load_scenario",
    "parse_scenario",
    "session",
    "shipped_scenarios",
    "start_session",
    "tabletop_svg",
]

MAX_SCENARIO_BYTES = 64 * 1024
MAX_DECISION = 2000
MAX_SPEED = 3600.0
MAX_ADVANCE = timedelta(days=30)
#: an inject that is not a detection: a report from outside (a leak found, a regulator call)
REPORT = "report"


def _clock() -> datetime:
    return datetime.now(UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioInject(_Strict):
    """One scripted event: at ``at`` (a duration after the start) a detection of ``kind``
    (a detection kind) or a ``report`` from outside."""

    at: str
    kind: str
    title: str = Field(min_length=1, max_length=300)
    severity: Severity = Severity.HIGH
    principal: str | None = Field(None, max_length=200)
    client_ip: str | None = Field(None, max_length=64)
    model: str | None = Field(None, max_length=200)
    techniques: tuple[str, ...] = Field((), max_length=20)
    message: str = Field("", max_length=2000)

    @field_validator("at")
    @classmethod
    def _at(cls, v: str) -> str:
        if v.strip() in ("0", "0s", "0m"):
            return "0s"
        try:
            parse_duration(v, "at")
        except InputError as exc:
            raise ValueError(exc.message) from None
        return v

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        known = [k.value for k in DetectionKind] + [REPORT]
        if v not in known:
            raise ValueError(f"unknown inject kind {v[:40]!r}: expected one of {', '.join(known)}")
        return v

    @property
    def offset(self) -> timedelta:
        return timedelta(0) if self.at == "0s" else parse_duration(self.at, "at")


class Scenario(_Strict):
    """A tabletop scenario: the injects (the first, at offset 0, a detection that opens
    the incident), the playbook the responders are expected to follow, the clock speed."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=4000)
    #: a shipped playbook id (or, from the CLI, a playbook YAML file)
    playbook: str = Field(min_length=1, max_length=300)
    #: scenario seconds per wall second (1: real time)
    speed: float = Field(1.0, gt=0, le=MAX_SPEED)
    owner: str = Field("incident-commander", min_length=1, max_length=200)
    params: dict[str, str | int | bool] = Field(default_factory=dict, max_length=50)
    injects: tuple[ScenarioInject, ...] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _order(self) -> Scenario:
        first = self.injects[0]
        if first.offset != timedelta(0) or first.kind == REPORT:
            raise ValueError(
                "injects.0: the first inject must be a detection at 0s (it opens the incident)"
            )
        offs = [i.offset for i in self.injects]
        if offs != sorted(offs):
            raise ValueError("injects: offsets must not decrease")
        return self


def _locate(loc: tuple[int | str, ...], raw: Any) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_scenario(text: str | bytes, *, what: str = "scenario") -> Scenario:
    """A validated scenario (size-limited YAML; the first problem named by its path)."""
    return load_document(text, Scenario, what=what, max_bytes=MAX_SCENARIO_BYTES, locate=_locate)


def load_scenario(path: Path) -> Scenario:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"scenario {path.name}: cannot read ({exc.strerror})") from None
    return parse_scenario(data, what=f"scenario {path.name}")


def shipped_scenarios() -> list[Scenario]:
    """The scenarios Bastion ships (``bastion/incidents/scenarios/*.yaml``), by id."""
    pack = resources.files("bastion.incidents").joinpath("scenarios")
    out = [
        parse_scenario(p.read_bytes(), what=f"scenario {p.name}")
        for p in pack.iterdir()
        if p.name.endswith(".yaml")
    ]
    return sorted(out, key=lambda s: s.id)


def get_scenario(ref: str, *, files: bool = True) -> Scenario:
    """A shipped scenario by id, or (``files``) a scenario YAML file by path."""
    for s in shipped_scenarios():
        if s.id == ref:
            return s
    path = Path(ref)
    if files and path.suffix in (".yaml", ".yml") and path.is_file():
        return load_scenario(path)
    known = ", ".join(s.id for s in shipped_scenarios())
    raise NotFoundError(f"no scenario {ref[:60]!r}: name a shipped one ({known}) or a YAML file")


def _playbook(scenario: Scenario, files: bool) -> Playbook:
    if not files and not scenario.playbook.replace("-", "").replace("_", "").isalnum():
        raise PlaybookError("over the API a scenario names a shipped playbook by id")
    return get_playbook(scenario.playbook)


@dataclass(frozen=True)
class TabletopStep:
    step: str
    title: str
    owners: tuple[str, ...]
    deadline_s: int | None  # scenario seconds after the start
    decided_s: int | None
    status: str  # met, late, missed (clock past the deadline, no decision), open

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "title": self.title,
            "owners": list(self.owners),
            "deadline_s": self.deadline_s,
            "decided_s": self.decided_s,
            "status": self.status,
        }


@dataclass(frozen=True)
class TabletopSession:
    id: str  # the exercise incident's id
    scenario: Scenario
    playbook: str
    started_at: datetime
    clock_s: int  # scenario seconds elapsed now
    speed: float
    injects: tuple[dict[str, Any], ...]  # delivered: {index, at_s, kind, title, ...}
    pending_injects: int
    decisions: tuple[dict[str, Any], ...]  # {actor, decision, step, at_s, wall, ledger_seq}
    steps: tuple[TabletopStep, ...]
    incident: Incident

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scenario": self.scenario.id,
            "title": self.scenario.title,
            "playbook": self.playbook,
            "started_at": self.started_at.isoformat(),
            "clock_s": self.clock_s,
            "clock": fmt_offset(self.clock_s),
            "speed": self.speed,
            "injects": [dict(i) for i in self.injects],
            "pending_injects": self.pending_injects,
            "decisions": [dict(d) for d in self.decisions],
            "steps": [s.to_dict() for s in self.steps],
            "incident_status": self.incident.status.value,
        }


def fmt_offset(seconds: int | None) -> str:
    """``T+1h05m`` style."""
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else "+"
    s = abs(int(seconds))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    parts = (f"{d}d" if d else "") + (f"{h}h" if h or d else "") + f"{m:02d}m"
    if sec and not d:
        parts += f"{sec:02d}s"
    return f"T{sign}{parts}"


def _detection(inject: ScenarioInject, session_id: str | None, at: datetime) -> dict[str, Any]:
    ms = int(at.timestamp() * 1000)
    who = inject.principal or inject.client_ip or inject.model or "-"
    return {
        "kind": inject.kind,
        "rule": "tabletop",
        "title": inject.title,
        "severity": inject.severity.value,
        "time_ms": ms,
        "principal": inject.principal,
        "client_ip": inject.client_ip,
        "model": inject.model,
        "techniques": list(inject.techniques),
        "events": [],
        "details": {"exercise": True, **({"session": session_id} if session_id else {})},
        "finding_uid": f"{inject.kind}:{who}:{ms}"[:128],
        "exercise": True,
    }


def start_session(
    ws: Workspace, scenario: Scenario, *, actor: str, speed: float | None = None,
    files: bool = True,
) -> TabletopSession:  # fmt: skip
    """Start an exercise: the first inject opens the incident, the playbook's steps are
    planned (owners and deadlines in scenario time, nothing executed)."""
    from bastion.incidents._run import _owners_and_deadline

    pb = _playbook(scenario, files)
    rate = scenario.speed if speed is None else float(speed)
    if not 0 < rate <= MAX_SPEED:
        raise InputError(f"speed: expected more than 0 and at most {MAX_SPEED:g}")
    start = _clock()
    first = scenario.injects[0]
    det = _detection(first, None, start)
    params: dict[str, Any] = {
        **scenario.params, "exercise": True, "exercise_scenario": scenario.id,
    }  # fmt: skip
    inc = open_from_detection(ws, det, owner=scenario.owner, actor=actor, params=params)
    start = inc.created_at  # the session clock's origin
    severity = Severity(inc.severity)
    try:
        plan = [(st, *_owners_and_deadline(ws, st, severity, start)) for st in pb.steps]
    except NotFoundError as exc:
        raise ConflictError(f"playbook {pb.id}: {exc.message}") from None
    sid = inc.id
    run_id = str(uuid.uuid4())
    with ws.db.session() as s:
        row = _row(s, sid)
        row.title = ("[exercise] " + row.title)[:300]
        record(ws, s, sid, "tabletop_started",
               {"session": sid, "scenario": scenario.model_dump(mode="json"),
                "playbook": pb.id, "speed": rate, "run": run_id}, actor)  # fmt: skip
        for st, owners, deadline in plan:
            s.add(StepRow(incident_id=sid, run_id=run_id, playbook=pb.id, step=st.id,
                          title=st.title, owners=list(owners), deadline=deadline,
                          status="pending", completed_at=None))  # fmt: skip
        ws.ledger.append(
            [Event("monitor.detection", {**det, "source": f"tabletop:{sid}"}, actor)], session=s
        )
        record(ws, s, sid, "tabletop_inject",
               {"index": 0, "at_s": 0, "kind": first.kind, "title": first.title,
                "finding_uid": det["finding_uid"]}, actor)  # fmt: skip
    return session(ws, sid)


def _state(inc: Incident) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    started = [t for t in inc.timeline if t.kind == "tabletop_started"]
    if not started or not inc.params.get("exercise"):
        raise NotFoundError(f"no tabletop session {inc.id[:40]!r}")
    jumps = [dict(t.data) for t in inc.timeline if t.kind == "tabletop_advanced"]
    return dict(started[0].data), jumps, float(started[0].data["speed"])


def _clock_s(inc: Incident, speed: float, jumps: list[dict[str, Any]]) -> int:
    wall = (_clock() - inc.created_at).total_seconds()
    return int(max(0.0, wall) * speed + sum(int(j["seconds"]) for j in jumps))


_DELIVERY = threading.Lock()


def _deliver(ws: Workspace, inc: Incident) -> Incident:
    """Record every inject whose offset the session clock has passed and that is not yet
    (under a lock, re-reading the timeline: two readers never deliver one inject twice in
    a process). The scenario is the actor of its injects (``scenario:ID``), not whoever
    happened to read the session when the clock passed them."""
    with _DELIVERY:
        inc = get_incident(ws, inc.id)
        start, jumps, speed = _state(inc)
        scenario = Scenario.model_validate(start["scenario"])
        actor = f"scenario:{scenario.id}"
        now_s = _clock_s(inc, speed, jumps)
        done = {int(t.data["index"]) for t in inc.timeline if t.kind == "tabletop_inject"}
        due = [
            (i, inj) for i, inj in enumerate(scenario.injects)
            if i not in done and inj.offset.total_seconds() <= now_s
        ]  # fmt: skip
        if not due:
            return inc
        for i, inj in due:
            at = inc.created_at + inj.offset
            data: dict[str, Any] = {"index": i, "at_s": int(inj.offset.total_seconds()),
                                    "kind": inj.kind, "title": inj.title}  # fmt: skip
            if inj.message:
                data["message"] = inj.message
            with ws.db.session() as s:
                if inj.kind != REPORT:
                    det = _detection(inj, inc.id, at)
                    ev = Event("monitor.detection", {**det, "source": f"tabletop:{inc.id}"}, actor)
                    ws.ledger.append([ev], session=s)
                    data["finding_uid"] = det["finding_uid"]
                record(ws, s, inc.id, "tabletop_inject", data, actor)
            if "finding_uid" in data:
                link(ws, inc.id, "detection", str(data["finding_uid"]), actor=actor)
        return get_incident(ws, inc.id)


def session(ws: Workspace, session_id: str) -> TabletopSession:
    """The session now (delivering the injects its clock has reached)."""
    inc = _deliver(ws, get_incident(ws, session_id[:100]))
    start, jumps, speed = _state(inc)
    scenario = Scenario.model_validate(start["scenario"])
    now_s = _clock_s(inc, speed, jumps)
    injects = tuple(dict(t.data) for t in inc.timeline if t.kind == "tabletop_inject")
    decisions = tuple(
        {**t.data, "actor": t.actor, "wall": t.at.isoformat(), "ledger_seq": t.ledger_seq}
        for t in inc.timeline
        if t.kind == "tabletop_decision"
    )
    first: dict[str, int] = {}
    for d in decisions:
        if d.get("step") and d["step"] not in first:
            first[str(d["step"])] = int(d["at_s"])
    steps = []
    for st in inc.steps:
        if st.run_id != start["run"]:
            continue
        dl = round((st.deadline - inc.created_at).total_seconds()) if st.deadline else None
        got = first.get(st.step)
        if got is not None:
            status = "late" if dl is not None and got > dl else "met"
        else:
            status = "missed" if dl is not None and now_s > dl else "open"
        steps.append(TabletopStep(st.step, st.title, st.owners, dl, got, status))
    return TabletopSession(
        id=inc.id, scenario=scenario, playbook=str(start["playbook"]),
        started_at=inc.created_at, clock_s=now_s, speed=speed, injects=injects,
        pending_injects=len(scenario.injects) - len(injects), decisions=decisions,
        steps=tuple(steps), incident=inc,
    )  # fmt: skip


def advance(ws: Workspace, session_id: str, by: str, *, actor: str) -> TabletopSession:
    """The facilitator jumps the session clock forward (``by``: a duration, e.g. ``30m``)."""
    delta = parse_duration(by, "by")
    if delta <= timedelta(0) or delta > MAX_ADVANCE:
        raise InputError("by: expected a duration above 0 and at most 30 days")
    cur = session(ws, session_id)
    with ws.db.session() as s:
        record(ws, s, cur.id, "tabletop_advanced",
               {"seconds": int(delta.total_seconds()), "from_s": cur.clock_s}, actor)  # fmt: skip
    return session(ws, cur.id)


def decide(
    ws: Workspace, session_id: str, decision: str, *, actor: str, step: str | None = None
) -> TabletopSession:
    """A participant records a decision (who: ``actor``, what, when: the session clock);
    naming a playbook ``step`` times that step against its deadline."""
    text = (decision or "").strip()
    if not text:
        raise InputError("decision: must not be empty")
    if len(text) > MAX_DECISION:
        raise InputError(f"decision: longer than {MAX_DECISION} characters")
    cur = session(ws, session_id)
    if cur.incident.status.value == "closed":
        raise ConflictError(f"tabletop session {cur.id} is over (its incident is closed)")
    if step is not None and step not in {s.step for s in cur.steps}:
        known = ", ".join(s.step for s in cur.steps)
        raise InputError(f"step {step[:64]!r} is not in playbook {cur.playbook} ({known})")
    target = next((s for s in cur.steps if s.step == step), None)
    data: dict[str, Any] = {"decision": text, "step": step, "at_s": cur.clock_s}
    if target is not None and target.deadline_s is not None:
        data["on_time"] = cur.clock_s <= target.deadline_s
    with ws.db.session() as s:
        record(ws, s, cur.id, "tabletop_decision", data, actor)
        if target is not None and target.decided_s is None:
            row = s.scalars(
                select(StepRow).where(StepRow.incident_id == cur.id, StepRow.step == step,
                                      StepRow.status == "pending")
            ).first()  # fmt: skip
            if row is not None:
                row.status = "done"
                row.completed_at = cur.started_at + timedelta(seconds=cur.clock_s)
    return session(ws, cur.id)


def tabletop_svg(s: TabletopSession) -> str:
    """The exercise at a glance, in scenario hours: each step's window to its deadline,
    its decision (green met, red late) or the clock running past it (red missed, grey
    open), the injects and decisions along the top. SVG via ``core.charts.render_svg``."""
    from matplotlib.figure import Figure

    from bastion.core.charts import render_svg

    def h(sec: int | None) -> float:
        return (sec or 0) / 3600

    steps = list(s.steps)
    fig = Figure(figsize=(8, 1.4 + 0.45 * max(1, len(steps))))
    ax = fig.add_subplot()
    labels: list[tuple[int, str]] = []
    for i, st in enumerate(steps):
        y = len(steps) - i
        labels.append((y, f"{st.step} ({', '.join(st.owners)[:40]})"))
        if st.deadline_s is not None:
            ax.barh(y, h(st.deadline_s), left=0, height=0.5, color="#bbdefb", edgecolor="#64b5f6")
        if st.decided_s is not None:
            color = "#c62828" if st.status == "late" else "#2e7d32"
            ax.plot([h(st.decided_s)], [y], marker="o", color=color)
        else:
            color = "#c62828" if st.status == "missed" else "#9e9e9e"
            ax.plot([0, h(s.clock_s)], [y, y], linestyle=":", color=color)
            ax.plot([h(s.clock_s)], [y], marker=">", color=color)
    top = len(steps) + 1
    for inj in s.injects:
        ax.plot([h(int(inj["at_s"]))], [top], marker="v", color="#6a1b9a")
    for d in s.decisions:
        ax.plot([h(int(d["at_s"]))], [top], marker="|", color="#455a64")
    labels.append((top, "injects / decisions"))
    ax.axvline(h(s.clock_s), color="#455a64", linestyle="--", linewidth=0.8)
    ax.set_yticks([y for y, _ in labels], [text for _, text in labels])
    ax.set_xlabel(f"scenario hours since the start (clock {fmt_offset(s.clock_s)})")
    ax.set_title(f"{s.scenario.title[:80]} [{s.playbook}]")
    ax.set_ylim(0.3, top + 0.7)
    ax.margins(x=0.03)
    ax.grid(axis="x", alpha=0.3)
    return render_svg(fig, salt=f"tabletop-{s.id}")


# ---- after-action report -------------------------------------------------------------


class TabletopStepData(BaseModel):
    model_config = ConfigDict(frozen=True)
    step: str
    title: str
    owners: tuple[str, ...]
    deadline_s: int | None
    decided_s: int | None
    status: str


class TabletopData(EvidenceData):
    """``incidents.tabletop`` evidence: the scenario, playbook, the clock at the report,
    each step timed against its deadline, every decision (who, what, when), the gaps."""

    session: str
    scenario: str
    playbook: str
    speed: float
    clock_s: int
    steps: tuple[TabletopStepData, ...]
    decisions: tuple[dict[str, Any], ...]
    injects: tuple[dict[str, Any], ...]
    met: int
    late: int
    missed: int
    open: int
    gaps: tuple[str, ...]


class TabletopCheck(RecordedCheck[TabletopData]):
    """The after-action report of a tabletop exercise, recorded by ``bastion tabletop report``."""

    id = "incidents.tabletop"
    title = "Tabletop exercise after-action report"
    description = (
        "A scripted incident exercise: each step of the expected playbook timed against its "
        "deadline on the session clock (met, late, missed, open), the decisions, the gaps."
    )
    subject_kinds = ("incident",)
    severity = Severity.INFO
    references = ("NIST SP 800-84", "NIST AI RMF MANAGE 4.3", "ISO/IEC 27035-2")
    recorded_by = "bastion tabletop report (incidents.after_action)"


@dataclass(frozen=True)
class AfterAction:
    session: TabletopSession
    evidence: Evidence | None
    gaps: tuple[str, ...]

    @property
    def counts(self) -> dict[str, int]:
        out = {"met": 0, "late": 0, "missed": 0, "open": 0}
        for s in self.session.steps:
            out[s.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.session.to_dict(),
            **self.counts,
            "gaps": list(self.gaps),
            "evidence": self.evidence.id if self.evidence else None,
        }

    def markdown(self) -> str:
        s = self.session
        c = self.counts
        lines = [
            f"# After-action report: {s.scenario.title}",
            "",
            f"Session `{s.id}`, scenario `{s.scenario.id}`, playbook `{s.playbook}`, "
            f"started {s.started_at.isoformat(timespec='seconds')}, clock {fmt_offset(s.clock_s)} "
            f"(speed x{s.speed:g}).",
            "",
            f"Steps: {c['met']} met, {c['late']} late, {c['missed']} missed, {c['open']} open.",
            "",
            "## Steps against the playbook's deadlines",
            "",
            "| step | owners | deadline | decided | result |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {st.step}: {_md(st.title)} | {_md(', '.join(st.owners))} | "
            f"{fmt_offset(st.deadline_s)} | {fmt_offset(st.decided_s)} | {st.status} |"
            for st in s.steps
        ]
        lines += ["", "## Timeline", "", "| at | who | what |", "|---|---|---|"]
        for at, who, what in _timeline(s):
            lines.append(f"| {fmt_offset(at)} | {_md(who)} | {_md(what)} |")
        lines += ["", "## Gaps", ""]
        lines += [f"- {_md(g)}" for g in self.gaps] or ["- none"]
        if self.evidence is not None:
            lines += ["", f"Recorded as evidence `{self.evidence.id}` (incidents.tabletop)."]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        s = self.session
        rows = "".join(
            f"<tr class='{st.status}'><td>{escape(st.step)}</td><td>{escape(st.title)}</td>"
            f"<td>{escape(', '.join(st.owners))}</td><td>{fmt_offset(st.deadline_s)}</td>"
            f"<td>{fmt_offset(st.decided_s)}</td><td>{st.status}</td></tr>"
            for st in s.steps
        )
        tl = "".join(
            f"<tr><td>{fmt_offset(at)}</td><td>{escape(who)}</td><td>{escape(what)}</td></tr>"
            for at, who, what in _timeline(s)
        )
        gaps = "".join(f"<li>{escape(g)}</li>" for g in self.gaps) or "<li>none</li>"
        c = self.counts
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>After-action report"
            f"</title></head><body><h1>After-action report: {escape(s.scenario.title)}</h1>"
            f"<p>Session {escape(s.id)}, playbook {escape(s.playbook)}, clock "
            f"{fmt_offset(s.clock_s)}. {c['met']} met, {c['late']} late, {c['missed']} missed, "
            f"{c['open']} open.</p><h2>Steps</h2><table><tr><th>step</th><th>title</th>"
            f"<th>owners</th><th>deadline</th><th>decided</th><th>result</th></tr>{rows}"
            f"</table><h2>Steps against their deadlines</h2>{_svg_body(tabletop_svg(s))}"
            f"<h2>Timeline</h2><table>{tl}</table><h2>Gaps</h2><ul>{gaps}</ul>"
            "</body></html>"
        )


def _svg_body(svg: str) -> str:
    """The ``<svg>`` element of a rendered chart (without the XML prolog and doctype)."""
    i = svg.find("<svg")
    return svg[i:] if i >= 0 else ""


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _timeline(s: TabletopSession) -> list[tuple[int, str, str]]:
    items: list[tuple[int, str, str]] = [
        (int(i["at_s"]), "scenario", f"inject ({i['kind']}): {i['title']}") for i in s.injects
    ]
    items += [
        (int(d["at_s"]), str(d["actor"]),
         f"decision{' on ' + str(d['step']) if d.get('step') else ''}: {d['decision']}")
        for d in s.decisions
    ]  # fmt: skip
    return sorted(items, key=lambda x: x[0])


def after_action(
    ws: Workspace, session_id: str, *, actor: str, record_it: bool = True
) -> AfterAction:
    """The after-action report; ``record_it``: recorded as ``incidents.tabletop`` evidence
    (verdict pass when every step met its deadline, warn when some were late or are still
    open, fail when one was missed)."""
    s = session(ws, session_id)
    gaps: list[str] = []
    for st in s.steps:
        if st.status == "missed":
            gaps.append(f"step {st.step} ({', '.join(st.owners)}): no decision before its "
                        f"deadline {fmt_offset(st.deadline_s)}")  # fmt: skip
        elif st.status == "late":
            gaps.append(f"step {st.step}: decided at {fmt_offset(st.decided_s)}, after its "
                        f"deadline {fmt_offset(st.deadline_s)}")  # fmt: skip
        elif st.status == "open":
            gaps.append(f"step {st.step}: no decision yet (deadline "
                        f"{fmt_offset(st.deadline_s) or 'none'})")  # fmt: skip
    off = [d for d in s.decisions if not d.get("step")]
    if off:
        gaps.append(f"{len(off)} decision(s) not tied to a playbook step")
    if s.pending_injects:
        gaps.append(f"{s.pending_injects} inject(s) not yet reached by the clock")
    report = AfterAction(s, None, tuple(gaps))
    if not record_it:
        return report
    c = report.counts
    verdict = (
        Verdict.FAIL if c["missed"] else Verdict.WARN if c["late"] or c["open"] else Verdict.PASS
    )
    data = TabletopData(
        session=s.id, scenario=s.scenario.id, playbook=s.playbook, speed=s.speed,
        clock_s=s.clock_s,
        steps=tuple(TabletopStepData(**st.to_dict()) for st in s.steps),
        decisions=s.decisions, injects=s.injects, gaps=tuple(gaps), **c,
    )  # fmt: skip
    ev = record_evidence(ws, TabletopCheck, Subject("incident", s.id), verdict=verdict,
                         data=data, actor=actor)  # fmt: skip
    link(ws, s.id, "evidence", ev.id, actor=actor)
    return AfterAction(s, ev, tuple(gaps))
