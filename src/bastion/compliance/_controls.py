"""Controls between evidence and gates: the catalog, and :func:`evaluate_control`, the one
place where freshness, stale evidence (evidence of an earlier digest), allowed producers,
ledger integrity and attestations are judged. Gates call it for every control they name
and for every inline ``evidence:`` requirement (an anonymous control).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bastion.access import list_tokens
from bastion.compliance._checks import MAX_STATEMENT, AttestationCheck, AttestationData
from bastion.compliance.interface import (
    Control,
    ControlResult,
    ControlSubject,
    Coverage,
    Scope,
    producer_allowed,
)
from bastion.core.checks import record_evidence
from bastion.core.documents import load_document
from bastion.core.errors import CheckError, InputError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.governance import parse_duration

__all__ = [
    "PLANNED_EVIDENCE_KINDS",
    "ProducerRoles",
    "attest",
    "evaluate_control",
    "evaluate_control_for",
    "get_control",
    "known_evidence_kinds",
    "list_controls",
    "parse_catalog",
    "pending_evidence_kinds",
    "resolve_subject",
]

MAX_CATALOG_BYTES = 256 * 1024
_FETCH = 20  # evidence looked at per control when producers filter it
_ATTESTATIONS = 50  # attestations looked at per control and subject

#: Evidence kinds of rooms not built yet: a policy or control may name them today (they
#: fail closed until the evidence exists). Those with a registered check drop out.
PLANNED_EVIDENCE_KINDS = frozenset({"privacy.evaluation", "fairness.evaluation"})


def _registered() -> frozenset[str]:
    from bastion.core.checks import all_checks
    from bastion.core.workspace import wire_rooms

    wire_rooms()  # every room's checks registered (bastion.wiring, once per process)
    return frozenset(c.id for c in all_checks())


def pending_evidence_kinds() -> frozenset[str]:
    """Planned evidence kinds that no registered check produces yet."""
    return PLANNED_EVIDENCE_KINDS - _registered()


def known_evidence_kinds() -> frozenset[str]:
    """Registered check ids (after loading every room's checks) plus the pending kinds."""
    return _registered() | PLANNED_EVIDENCE_KINDS


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


# -- the catalog ---------------------------------------------------------------------------


class _Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    apiVersion: str = Field(pattern=r"^bastion/v1$")
    kind: str = Field(pattern=r"^ControlCatalog$")
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{2,63}$")
    title: str = ""
    controls: tuple[Control, ...] = Field(max_length=1000)


def parse_catalog(text: str | bytes, filename: str = "control catalog") -> dict[str, Control]:
    """A ``kind: ControlCatalog`` document's controls by id (``InputError`` naming the
    position of the first problem)."""
    cat = load_document(
        text,
        _Catalog,
        what=filename,
        max_bytes=MAX_CATALOG_BYTES,
        shape="a mapping with kind: ControlCatalog",
    )
    out: dict[str, Control] = {}
    known = known_evidence_kinds()
    for i, c in enumerate(cat.controls):
        if c.id in out:
            raise InputError(f"{filename}: controls[{i}]: duplicate control id {c.id!r}")
        if c.check is not None and c.check not in known:
            raise InputError(
                f"{filename}: controls[{i}] ({c.id}): unknown evidence kind {c.check!r}"
            )
        out[c.id] = c
    return out


@functools.cache
def _internal() -> dict[str, Control]:
    text = resources.files("bastion.compliance").joinpath("catalog.yaml").read_bytes()
    return parse_catalog(text, "bastion internal control catalog")


def list_controls() -> list[Control]:
    """The controls of the internal catalog, by id."""
    return [c for _k, c in sorted(_internal().items())]


def get_control(control_id: str) -> Control:
    try:
        return _internal()[control_id]
    except KeyError:
        raise NotFoundError(
            f"no control {control_id[:100]!r} in the catalog ('bastion control list')"
        ) from None


# -- subjects and producers ----------------------------------------------------------------


def resolve_subject(ws: Workspace, text: str) -> ControlSubject:
    """``model:NAME@VERSION`` (a registry version) or ``system:ID`` (an inventory system)."""
    if not isinstance(text, str) or len(text) > 500:
        raise InputError("subject: expected model:NAME@VERSION or system:ID (at most 500)")
    kind, sep, ref = text.partition(":")
    if not sep or not ref:
        raise InputError(f"subject {text[:100]!r}: expected model:NAME@VERSION or system:ID")
    if kind == "system":
        from bastion.inventory import get_system

        get_system(ws, ref)  # NotFoundError when it is not in the inventory
        return ControlSubject(ref=ref, system_id=ref)
    if kind == "model":
        name, at, version = ref.partition("@")
        if not at or not name or not version:
            raise InputError(f"subject {text[:100]!r}: expected model:NAME@VERSION")
        from bastion.registry import get_model, get_version

        v = get_version(ws, name, version)
        earlier = tuple(
            (o.version, o.digest)
            for o in get_model(ws, name).versions
            if o.version != v.version and o.digest != v.digest
        )
        return ControlSubject(
            ref=v.ref, digest=v.digest, system_id=v.system_id, model=v.model, earlier=earlier
        )
    raise InputError(f"subject {text[:100]!r}: the kind must be model or system")


@dataclass
class ProducerRoles:
    """Who produced evidence, by role: a token actor ``token:<id>:<name>`` has its token's
    role (from the access room's token table; a revoked or unknown token has none); any
    other actor (``cli``, ``system``, ``demo``, in-process callers) is the local
    administrator, role ``admin`` (and ``local``). Read once per evaluation."""

    ws: Workspace
    _tokens: dict[str, Any] | None = field(default=None, repr=False)

    def role(self, actor: str) -> str | None:
        if not actor.startswith("token:"):
            return "local"
        if self._tokens is None:
            self._tokens = {t.id: t for t in list_tokens(self.ws)}
        tid = actor.split(":", 2)[1] if actor.count(":") >= 2 else ""
        tok = self._tokens.get(tid)
        return None if tok is None or tok.revoked else str(tok.role.value)

    def allowed(self, control: Control, actor: str) -> bool:
        return control.producer_allowed(actor, self.role(actor))

    def describe(self, actor: str) -> str:
        role = self.role(actor)
        if role == "local":
            return f"{actor} (local administrator)"
        return f"{actor} ({role + ' token' if role else 'unknown or revoked token'})"


def _system_digest(ws: Workspace, system_id: str) -> str | None:
    from bastion.inventory import get_system

    try:
        return get_system(ws, system_id).digest
    except NotFoundError:
        return None


# -- evaluation ----------------------------------------------------------------------------


def evaluate_control(
    ws: Workspace,
    control: Control,
    subject: ControlSubject,
    *,
    now: datetime | None = None,
    roles: ProducerRoles | None = None,
) -> ControlResult:
    """Whether ``control`` holds for ``subject`` now. Fails closed: no evidence, stale
    evidence (about an earlier digest), evidence by a producer the control does not allow,
    evidence whose stored row no longer matches its ledgered digest, a wrong verdict, a
    finding too severe, evidence too old, a condition that does not hold, or (coverage
    partial or attestation) no fresh attestation: each is unmet, with the reason and what
    would fix it."""
    now = now or _now()
    roles = roles or ProducerRoles(ws)
    if control.coverage is Coverage.ATTESTATION:
        return _attested(ws, control, subject, now, roles, None)
    res = _evidence(ws, control, subject, now, roles)
    if control.coverage is Coverage.PARTIAL and res.satisfied:
        return _attested(ws, control, subject, now, roles, res)
    return res


def evaluate_control_for(
    ws: Workspace, control_id: str, subject: str, *, now: datetime | None = None
) -> tuple[ControlSubject, ControlResult]:
    """The catalog control ``control_id`` evaluated on ``subject`` (``model:NAME@VERSION``
    or ``system:ID``): what ``bastion control evaluate`` and the API run."""
    control = get_control(control_id)
    subj = resolve_subject(ws, subject)
    return subj, evaluate_control(ws, control, subj, now=now)


def _result(
    control: Control,
    satisfied: bool,
    reason: str,
    remedy: str | None = None,
    ids: tuple[str, ...] = (),
    by: tuple[str, ...] = (),
    attestations: tuple[str, ...] = (),
) -> ControlResult:
    return ControlResult(
        control.id,
        control.describe(),
        control.coverage,
        satisfied,
        reason,
        remedy,
        ids,
        by,
        attestations,
    )


def _scope_subject(
    ws: Workspace, control: Control, subject: ControlSubject
) -> tuple[str, str, str] | ControlResult:
    """(evidence subject digest, how to name it, how to produce evidence) or why none."""
    kind = control.check or AttestationCheck.id
    if control.scope is Scope.MODEL:
        if not subject.is_model or subject.digest is None:
            return _result(
                control,
                False,
                f"control {control.id} is about a model version's evidence; {subject.ref} is "
                "a system",
                "evaluate it on a model version: --subject model:NAME@VERSION",
            )
        return (
            subject.digest,
            f"{subject.ref} ({subject.digest[:19]}…)",
            f"run {kind} on {subject.ref}",
        )
    if not subject.system_id:
        return _result(
            control,
            False,
            f"{subject.model} belongs to no system, so {kind} on its system cannot be found",
            "register the model with --system SYSTEM_ID",
        )
    sdigest = _system_digest(ws, subject.system_id)
    if sdigest is None:
        return _result(
            control,
            False,
            f"system {subject.system_id} is not in the inventory",
            "import its manifest: bastion inventory import MANIFEST",
        )
    return (
        sdigest,
        f"system {subject.system_id} ({sdigest[:19]}…)",
        f"run {kind} on system {subject.system_id}",
    )


def _evidence(
    ws: Workspace, control: Control, subject: ControlSubject, now: datetime, who: ProducerRoles
) -> ControlResult:
    kind = control.check
    assert kind is not None  # the model requires a check unless coverage is attestation
    limit = _FETCH if control.producers else 1

    def bad(
        reason: str, remedy: str, ids: tuple[str, ...] = (), by: tuple[str, ...] = ()
    ) -> ControlResult:
        return _result(control, False, reason, remedy, ids, by)

    scoped = _scope_subject(ws, control, subject)
    if isinstance(scoped, ControlResult):
        return scoped
    digest, named, run_hint = scoped
    if control.scope is Scope.MODEL:
        latest = ws.evidence.list(EvidenceQuery(check_id=kind, subject_digest=digest, limit=limit))
        if not latest:
            stale = _stale_evidence(ws, kind, subject.earlier)
            if stale is not None:
                e_old, old_version = stale
                return bad(
                    f"stale: {kind} evidence {e_old.id[:8]} was produced for digest "
                    f"{(e_old.subject.digest or '')[:19]}… of version {old_version}, not this "
                    f"version's {digest[:19]}…",
                    run_hint + " again on the current files",
                    (e_old.id,),
                    (e_old.actor,),
                )
    else:
        latest = ws.evidence.list(
            EvidenceQuery(
                check_id=kind,
                subject_kind="system",
                subject_ref=subject.system_id,
                subject_digest=digest,
                limit=limit,
            )
        )
    if not latest:
        return bad(f"no {kind} evidence about {named}", run_hint)
    allowed = [x for x in latest if who.allowed(control, x.actor)]
    if not allowed:
        x = latest[0]
        return bad(
            f"no {kind} evidence about {named} from an allowed producer "
            f"({', '.join(control.producers)}); ignored {x.id[:8]} by {who.describe(x.actor)}"
            + (f" and {len(latest) - 1} more" if len(latest) > 1 else ""),
            f"{run_hint} as one of: {', '.join(control.producers)}",
        )
    e: Evidence = allowed[0]
    ids, by = (e.id,), (e.actor,)
    if not ws.evidence.verify_digest(e):
        return bad(
            f"{kind} evidence {e.id} does not match its ledgered digest: its stored row "
            "was altered after it was recorded, so it cannot count",
            "investigate with 'bastion ledger verify --deep', then " + run_hint + " again",
            ids,
            by,
        )
    if e.verdict not in control.verdicts:
        return bad(
            f"latest {kind} evidence {e.id} has verdict {e.verdict.value} "
            f"(needs {'/'.join(x.value for x in control.verdicts)})",
            f"fix the findings and {run_hint} again",
            ids,
            by,
        )
    if control.max_severity is not None:
        over = [f for f in e.findings if f.severity.rank > control.max_severity.rank]
        if over:
            worst = max(over, key=lambda f: f.severity.rank)
            return bad(
                f"{len(over)} finding(s) above {control.max_severity.value} in {e.id}, worst "
                f"{worst.severity.value} {worst.rule_id}: {worst.title}",
                f"mitigate them and {run_hint} again",
                ids,
                by,
            )
    age = control.max_age_delta
    if age is not None and now - e.created_at > age:
        return bad(
            f"latest {kind} evidence {e.id} is from {e.created_at:%Y-%m-%d %H:%M}Z, "
            f"older than {control.max_age}",
            run_hint + " again",
            ids,
            by,
        )
    for cond in control.conditions:
        ok, seen = cond.holds(e.data)
        if not ok:
            return bad(
                f"condition '{cond.text}' does not hold in {e.id}: {seen}",
                f"produce {kind} evidence where {cond.text}",
                ids,
                by,
            )
    return _result(
        control,
        True,
        f"{e.id}: {e.verdict.value} on {e.created_at:%Y-%m-%d} by {e.actor}",
        None,
        ids,
        by,
    )


def _stale_evidence(
    ws: Workspace, kind: str, earlier: tuple[tuple[str, str], ...]
) -> tuple[Evidence, str] | None:
    """The newest ``kind`` evidence about any earlier digest of the model."""
    found: list[tuple[Evidence, str]] = []
    for version, digest in earlier:
        ev = ws.evidence.list(EvidenceQuery(check_id=kind, subject_digest=digest, limit=1))
        if ev:
            found.append((ev[0], version))
    return max(found, key=lambda x: x[0].created_at) if found else None


def _attested(
    ws: Workspace,
    control: Control,
    subject: ControlSubject,
    now: datetime,
    who: ProducerRoles,
    automated: ControlResult | None,
) -> ControlResult:
    """Met by the newest fresh attestation of ``control`` about the scoped subject (with
    ``automated``, the evidence part that already holds, kept in the result)."""
    scoped = _scope_subject(ws, control, subject)
    if isinstance(scoped, ControlResult):
        return scoped
    digest, named, _hint = scoped
    pre_ids = automated.evidence_ids if automated else ()
    pre_by = automated.producers if automated else ()
    pre = f"automated part: {automated.reason}; " if automated else ""
    remedy = (
        f"a person with role {' or '.join(control.attesters)} attests it: bastion control "
        f"attest {control.id} --subject "
        + (
            f"model:{subject.ref}"
            if control.scope is Scope.MODEL
            else f"system:{subject.system_id}"
        )
        + " --statement TEXT"
    )
    notes: list[str] = []
    for e in ws.evidence.list(
        EvidenceQuery(check_id=AttestationCheck.id, subject_digest=digest, limit=_ATTESTATIONS)
    ):
        try:
            d = AttestationCheck.read(e)
        except CheckError:
            continue
        if d.control != control.id:
            continue
        if not producer_allowed(control.attesters, e.actor, who.role(e.actor)):
            notes.append(f"ignored {e.id[:8]} by {who.describe(e.actor)}")
            continue
        if _utc(d.valid_until) <= now or now - e.created_at > control.attestation_validity:
            notes.append(f"{e.id[:8]} of {e.created_at:%Y-%m-%d} is no longer valid")
            continue
        if not ws.evidence.verify_digest(e):
            notes.append(f"{e.id[:8]} does not match its ledgered digest")
            continue
        return _result(
            control,
            True,
            f"{pre}attested by {d.attested_by} on {e.created_at:%Y-%m-%d} "
            f"(valid until {_utc(d.valid_until):%Y-%m-%d}), evidence {e.id}",
            None,
            (*pre_ids, e.id),
            (*pre_by, e.actor),
            (e.id,),
        )
    return _result(
        control,
        False,
        f"{pre}no fresh attestation of {control.id} about {named}"
        + (f" ({'; '.join(notes[:5])})" if notes else ""),
        remedy,
        pre_ids,
        pre_by,
    )


def attest(
    ws: Workspace,
    control: Control | str,
    subject: ControlSubject,
    *,
    statement: str,
    actor: str,
    valid_for: str | None = None,
) -> Evidence:
    """Record a dated attestation of ``control`` about ``subject`` by ``actor``
    (``compliance.attestation`` evidence through the typed recorder). Valid for
    ``valid_for`` (at most the control's ``attestation_max_age``, its default). Refused
    for a fully automated control, where an attestation would never count."""
    c = get_control(control) if isinstance(control, str) else control
    if c.coverage is Coverage.FULL:
        raise InputError(
            f"control {c.id} is fully automated: only {c.check} evidence meets it, an "
            "attestation would not count"
        )
    text = (statement or "").strip()
    if not text or len(text) > MAX_STATEMENT:
        raise InputError(f"an attestation needs a statement of 1-{MAX_STATEMENT} characters")
    validity = c.attestation_validity
    if valid_for is not None:
        validity = min(validity, parse_duration(valid_for, "valid_for"))
    scoped = _scope_subject(ws, c, subject)
    if isinstance(scoped, ControlResult):
        raise InputError(f"cannot attest {c.id}: {scoped.reason}")
    digest = scoped[0]
    if c.scope is Scope.MODEL:
        subj = Subject("model", subject.ref, digest)
    else:
        subj = Subject("system", str(subject.system_id), digest)
    now = _now()
    data = AttestationData(
        control=c.id,
        statement=text,
        attested_by=actor,
        valid_until=now + validity,
        scope=c.scope.value,
    )
    return record_evidence(ws, AttestationCheck, subj, verdict=Verdict.PASS, data=data, actor=actor)
