"""Running a playbook on an incident: each step gets its owners and deadline (from the
escalation matrix where the playbook says so), its actions run in order, and every step
and action is a timeline entry and a ledger event. An action that cannot run (its hook is
not wired, a parameter is missing, the other room refused) is recorded as failed with the
reason and the run goes on to the next action: containment does not stop at the first
refusal, and nothing is reported done that was not."""

from __future__ import annotations

import ipaddress
import json
import smtplib
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from bastion.core.errors import BastionError, ConflictError, InputError, NotFoundError
from bastion.core.types import Severity
from bastion.core.workspace import Workspace
from bastion.incidents._custody import collect
from bastion.incidents._playbooks import (
    _PLACEHOLDER,
    FromEscalation,
    Playbook,
    PlaybookAction,
    PlaybookStep,
)
from bastion.incidents._rows import IncidentRow, QuarantineRow, StepRow
from bastion.incidents._store import _row, get_incident, now, record, set_status, utc
from bastion.incidents.interface import (
    ActionResult,
    GrantSuspender,
    Incident,
    IncidentStatus,
    ModelRollback,
    PlaybookError,
    TokenRevoker,
)

__all__ = [
    "PlaybookRun",
    "RunOptions",
    "complete_step",
    "is_quarantined",
    "register_grant_suspender",
    "register_model_rollback",
    "register_token_revoker",
    "release_quarantine",
    "run_playbook",
]

_LOCK = threading.Lock()
_HOOKS: dict[str, Callable[..., object]] = {}


def register_token_revoker(fn: TokenRevoker) -> None:
    """The access room's token revocation, for the ``revoke_token`` action."""
    with _LOCK:
        _HOOKS["revoke_token"] = fn


def register_grant_suspender(fn: GrantSuspender) -> None:
    """The access room's just-in-time grant suspension, for ``suspend_grant``."""
    with _LOCK:
        _HOOKS["suspend_grant"] = fn


def register_model_rollback(fn: ModelRollback) -> None:
    """The registry's rollback to the last verified version, for ``rollback_model``."""
    with _LOCK:
        _HOOKS["rollback_model"] = fn


def _hook(name: str) -> Callable[..., object]:
    with _LOCK:
        fn = _HOOKS.get(name)
    if fn is None:
        raise ConflictError(f"no room offers {name} in this process (nothing is wired for it)")
    return fn


@dataclass(frozen=True)
class RunOptions:
    """Where notifications go: the SMTP relay (host, port, sender) for ``notify_email``.
    Webhooks take their URL from the playbook; plain http only to a loopback address."""

    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str = "bastion@localhost"
    timeout: float = 10.0
    #: a remote (API) run: ``freeze_evidence`` paths must lie under the operator's check
    #: roots and never in Bastion's own state (``bastion.core.checks.confine_path``)
    confine_paths: bool = False


@dataclass(frozen=True)
class PlaybookRun:
    run_id: str
    playbook: str
    incident: str
    results: tuple[ActionResult, ...]
    steps: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "playbook": self.playbook,
            "incident": self.incident,
            "ok": self.ok,
            "steps": [dict(s) for s in self.steps],
            "actions": [r.to_dict() for r in self.results],
        }


def _substitute(args: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in args.items():
        if isinstance(v, str):

            def repl(m: Any) -> str:
                name = m.group(1)
                if params.get(name) is None:
                    raise InputError(f"the incident has no parameter {name!r}")
                return str(params[name])

            out[k] = _PLACEHOLDER.sub(repl, v)
        else:
            out[k] = v
    return out


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise InputError("webhook URL: credentials in a URL are refused")
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host:
        try:
            if ipaddress.ip_address(host).is_loopback:
                return url
        except ValueError:
            if host == "localhost":
                return url
        raise InputError("webhook URL: plain http only to a loopback address; use https")
    raise InputError("webhook URL: expected an https:// URL")


def _notice(incident: Incident, step: PlaybookStep, message: str | None) -> dict[str, Any]:
    return {
        "incident": incident.id,
        "title": incident.title,
        "kind": incident.kind,
        "severity": incident.severity,
        "step": step.id,
        "step_title": step.title,
        "message": message or step.title,
    }


def _act(
    ws: Workspace,
    incident: Incident,
    step: PlaybookStep,
    action: PlaybookAction,
    args: Mapping[str, Any],
    actor: str,
    options: RunOptions,
) -> tuple[str, dict[str, Any]]:
    name = action.action
    reason = str(args.get("reason") or f"incident {incident.id}: {step.title}")[:1000]
    if name == "revoke_token":
        _hook(name)(ws, str(args["token_id"]), actor)
        return f"token {args['token_id']} revoked", {"token_id": args["token_id"]}
    if name == "suspend_grant":
        _hook(name)(ws, str(args["grant_id"]), actor, reason)
        return f"grant {args['grant_id']} suspended", {"grant_id": args["grant_id"]}
    if name == "rollback_model":
        t = _hook(name)(ws, str(args["model"]), reason=reason, actor=actor)
        version = getattr(t, "version", None) or getattr(t, "to_version", None)
        detail = f"{args['model']} rolled back" + (f" to {version}" if version else "")
        return detail, {"model": args["model"], "version": version}
    if name == "quarantine_model":
        model, version = str(args["model"])[:100], str(args["version"])[:64]
        with ws.db.session() as s:
            active = s.scalars(
                select(QuarantineRow).where(
                    QuarantineRow.model == model,
                    QuarantineRow.version == version,
                    QuarantineRow.released_at.is_(None),
                )
            ).first()
            if active is None:
                s.add(QuarantineRow(model=model, version=version, incident_id=incident.id,
                                    reason=reason, actor=actor, at=now()))  # fmt: skip
        return f"{model}@{version} quarantined", {"model": model, "version": version}
    if name == "freeze_evidence":
        frozen: list[dict[str, Any]] = []
        if args.get("path"):
            path = Path(str(args["path"]))
            if options.confine_paths:
                from bastion.core.checks import confine_path

                path = confine_path(str(args["path"]), ws.settings, name="path")
            art = collect(ws, path, name=args.get("name"),
                          incident_id=incident.id, actor=actor, note=reason)  # fmt: skip
            frozen.append({"artifact": art.id, "digest": art.digest})
        if args.get("evidence"):
            from bastion.core.canonical import canonical_json

            ev = ws.evidence.get(str(args["evidence"]))
            body = canonical_json(json.loads(json.dumps(ev.to_dict(), default=str)))
            art = collect(ws, body, name=f"evidence-{ev.id}.json", incident_id=incident.id,
                          actor=actor, note=reason)  # fmt: skip
            frozen.append({"artifact": art.id, "digest": art.digest, "evidence": ev.id})
        return f"{len(frozen)} artifact(s) frozen under custody", {"artifacts": frozen}
    if name == "notify_webhook":
        import httpx

        url = _check_url(str(args["url"]))
        try:
            r = httpx.post(url, json=_notice(incident, step, args.get("message")),
                           timeout=options.timeout, follow_redirects=False)  # fmt: skip
        except httpx.HTTPError as exc:
            raise ConflictError(f"webhook {urlsplit(url).hostname}: {type(exc).__name__}") from None
        if not 200 <= r.status_code < 300:
            raise ConflictError(f"webhook {urlsplit(url).hostname}: answered HTTP {r.status_code}")
        return f"webhook {urlsplit(url).hostname} notified", {"status": r.status_code}
    if name == "notify_email":
        if not options.smtp_host:
            raise ConflictError("no SMTP relay configured (--smtp HOST:PORT or BASTION_SMTP)")
        to = [a.strip() for a in str(args["to"]).split(",") if a.strip()]
        if not to or any("@" not in a or len(a) > 254 or "\n" in a for a in to):
            raise InputError("notify_email: 'to' must be e-mail addresses")
        msg = EmailMessage()
        subject = str(args.get("subject") or f"[{incident.severity}] {incident.title}")
        msg["Subject"] = subject.replace("\n", " ")[:200]
        msg["From"] = options.mail_from
        msg["To"] = ", ".join(to)
        msg.set_content(json.dumps(_notice(incident, step, args.get("message")), indent=2))
        try:
            with smtplib.SMTP(options.smtp_host, options.smtp_port, timeout=options.timeout) as m:
                m.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise ConflictError(f"SMTP {options.smtp_host}: {type(exc).__name__}") from None
        return f"e-mail sent to {len(to)} recipient(s)", {"to": to}
    raise PlaybookError(f"unknown action {name}")  # the schema refuses these first


def _owners_and_deadline(
    ws: Workspace, step: PlaybookStep, severity: Severity, start: datetime
) -> tuple[tuple[str, ...], datetime | None]:
    from bastion.governance import escalation_for, parse_duration

    owners: tuple[str, ...]
    deadline: datetime | None = None
    if isinstance(step.owner, FromEscalation):
        owners = escalation_for(ws, severity, step.owner.escalation).notify
    else:
        owners = (step.owner,)
    if isinstance(step.deadline, FromEscalation):
        deadline = start + escalation_for(ws, severity, step.deadline.escalation).within
    elif isinstance(step.deadline, str):
        deadline = start + parse_duration(step.deadline)
    return owners, deadline


def run_playbook(
    ws: Workspace,
    incident_id: str,
    playbook: Playbook,
    *,
    actor: str,
    params: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
) -> PlaybookRun:
    """Run ``playbook`` on the incident. Refused before any step when the incident is
    closed, lacks a declared parameter, or the escalation matrix the steps need is not
    set; otherwise every step and action is recorded, failures included."""
    options = options or RunOptions()
    incident = get_incident(ws, incident_id)
    if incident.status is IncidentStatus.CLOSED:
        raise ConflictError(f"incident {incident_id} is closed")
    merged: dict[str, Any] = {
        **incident.params, **(params or {}), "incident": incident.id,
        "title": incident.title, "severity": incident.severity,
    }  # fmt: skip
    missing = [p for p in playbook.parameters if merged.get(p) in (None, "")]
    if missing:
        raise InputError(
            f"playbook {playbook.id} needs incident parameter(s) {', '.join(missing)} "
            "(--param NAME=VALUE)"
        )
    severity = Severity(incident.severity)
    start = now()
    plan: list[tuple[PlaybookStep, tuple[str, ...], datetime | None]] = []
    try:
        for step in playbook.steps:
            owners, deadline = _owners_and_deadline(ws, step, severity, start)
            plan.append((step, owners, deadline))
    except NotFoundError as exc:
        raise ConflictError(f"playbook {playbook.id}: {exc.message}") from None
    run_id = str(uuid.uuid4())
    with ws.db.session() as s:
        record(ws, s, incident.id, "playbook_started",
               {"playbook": playbook.id, "run": run_id, "params": sorted(params or {})},
               actor)  # fmt: skip
    results: list[ActionResult] = []
    steps: list[dict[str, Any]] = []
    for step, owners, deadline in plan:
        step_results: list[ActionResult] = []
        for action in step.actions:
            try:
                args = _substitute(action.args, merged)
                detail, data = _act(ws, incident, step, action, args, actor, options)
                res = ActionResult(step.id, action.action, True, detail, data)
            except BastionError as exc:
                res = ActionResult(step.id, action.action, False, exc.message)
            step_results.append(res)
            with ws.db.session() as s:
                record(ws, s, incident.id, "action",
                       {"run": run_id, **res.to_dict()}, actor)  # fmt: skip
        manual = step.manual or not step.actions
        status = (
            "failed" if any(not r.ok for r in step_results) else "pending" if manual else "done"
        )
        with ws.db.session() as s:
            s.add(
                StepRow(
                    incident_id=incident.id, run_id=run_id, playbook=playbook.id, step=step.id,
                    title=step.title, owners=list(owners), deadline=deadline, status=status,
                    completed_at=now() if status == "done" else None,
                )
            )  # fmt: skip
            record(ws, s, incident.id, "step",
                   {"run": run_id, "step": step.id, "owners": list(owners), "status": status,
                    "deadline": deadline.isoformat() if deadline else None}, actor)  # fmt: skip
        results.extend(step_results)
        steps.append({"step": step.id, "title": step.title, "owners": list(owners),
                      "deadline": deadline.isoformat() if deadline else None,
                      "status": status})  # fmt: skip
    contained = any(
        r.ok and r.action in ("revoke_token", "rollback_model", "quarantine_model") for r in results
    )
    with ws.db.session() as s:
        row = _row(s, incident.id)
        if contained and row.status == IncidentStatus.OPEN.value:
            set_status(ws, s, row, IncidentStatus.CONTAINED, actor)
        record(ws, s, incident.id, "playbook_finished",
               {"playbook": playbook.id, "run": run_id,
                "failed": [f"{r.step}.{r.action}" for r in results if not r.ok]}, actor)  # fmt: skip
    return PlaybookRun(run_id, playbook.id, incident.id, tuple(results), tuple(steps))


def complete_step(
    ws: Workspace, incident_id: str, step: str, *, actor: str, note: str, run_id: str | None = None
) -> Incident:
    """A person completes a pending (manual) step; late completions are recorded as late."""
    if not note or not note.strip():
        raise InputError("completing a step needs a note (what was done)")
    with ws.db.session() as s:
        q = select(StepRow).where(
            StepRow.incident_id == incident_id, StepRow.step == step, StepRow.status == "pending"
        )
        if run_id:
            q = q.where(StepRow.run_id == run_id)
        row = s.scalars(q.order_by(StepRow.id.desc())).first()
        if row is None:
            raise NotFoundError(f"incident {incident_id[:40]} has no pending step {step[:64]!r}")
        at = now()
        deadline = utc(row.deadline)
        late = deadline is not None and at > deadline
        row.status, row.completed_at = "done", at
        record(ws, s, incident_id, "step_completed",
               {"run": row.run_id, "step": step, "late": late, "note": note.strip()[:4000],
                "overdue_seconds": int((at - deadline).total_seconds()) if late and deadline
                else 0}, actor)  # fmt: skip
    return get_incident(ws, incident_id)


def is_quarantined(ws: Workspace, model: str, version: str) -> bool:
    """Is this model version under quarantine (the guard refuses to serve it)?"""
    with ws.db.session() as s:
        return (
            s.scalars(
                select(QuarantineRow.id).where(
                    QuarantineRow.model == model,
                    QuarantineRow.version == version,
                    QuarantineRow.released_at.is_(None),
                )
            ).first()
            is not None
        )


def release_quarantine(ws: Workspace, model: str, version: str, *, actor: str, reason: str) -> None:
    if not reason.strip():
        raise InputError("releasing a quarantine needs a reason")
    with ws.db.session() as s:
        rows = list(
            s.scalars(
                select(QuarantineRow).where(
                    QuarantineRow.model == model,
                    QuarantineRow.version == version,
                    QuarantineRow.released_at.is_(None),
                )
            )
        )
        if not rows:
            raise NotFoundError(f"{model}@{version} is not quarantined")
        for r in rows:
            r.released_at = now()
            if r.incident_id and s.get(IncidentRow, r.incident_id) is not None:
                record(ws, s, r.incident_id, "quarantine_released",
                       {"model": model, "version": version, "reason": reason[:1000]}, actor)  # fmt: skip
