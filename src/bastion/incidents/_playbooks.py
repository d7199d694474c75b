"""Playbooks as code: YAML documents validated before anything runs.

A playbook names its triggers (detection kinds, or incident kinds), and its steps: each
with an owner (a person or role, or ``{escalation: DOMAIN}``: whoever the governance
escalation matrix notifies for the incident's severity in that domain), a deadline (a
duration, or ``{escalation: DOMAIN}``: that cell's ``within``), and its automated actions.
An action's arguments may name the incident's parameters as ``{name}``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.core.documents import load_document
from bastion.core.errors import InputError
from bastion.core.types import Severity
from bastion.governance import Domain, parse_duration
from bastion.incidents.interface import PlaybookError
from bastion.monitor import DetectionKind

__all__ = [
    "ACTIONS",
    "INCIDENT_KINDS",
    "MAX_PLAYBOOK_BYTES",
    "Playbook",
    "PlaybookAction",
    "PlaybookStep",
    "get_playbook",
    "load_playbook",
    "parse_playbook",
    "playbooks_for",
    "shipped_playbooks",
]

MAX_PLAYBOOK_BYTES = 128 * 1024
#: Incident kinds a playbook may trigger on besides the detection kinds.
INCIDENT_KINDS = (
    "model_compromise",
    "training_data_leakage",
    "adversarial_manipulation",
    "unauthorized_export",
    "decision_failure",
    "manual",
)
#: Actions a step may run, with the arguments each needs (``?`` marks an optional one).
ACTIONS: dict[str, tuple[str, ...]] = {
    "revoke_token": ("token_id",),
    "suspend_grant": ("grant_id", "reason?"),
    "quarantine_model": ("model", "version", "reason?"),
    "rollback_model": ("model", "reason?"),
    "freeze_evidence": ("path?", "evidence?", "name?"),
    "notify_webhook": ("url", "message?"),
    "notify_email": ("to", "subject?", "message?"),
}
_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,63})\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FromEscalation(_Strict):
    """Take the owner or deadline from the escalation matrix cell of the incident's
    severity in ``escalation`` (a governance domain)."""

    escalation: Domain


def _from_escalation(v: dict[str, Any]) -> FromEscalation:
    domains = ", ".join(d.value for d in Domain)
    if set(v) != {"escalation"}:
        raise ValueError(f"expected {{escalation: DOMAIN}} with DOMAIN one of {domains}")
    try:
        return FromEscalation(escalation=Domain(v["escalation"]))
    except ValueError:
        raise ValueError(
            f"escalation domain {str(v['escalation'])[:40]!r} is not one of {domains}"
        ) from None


class PlaybookAction(_Strict):
    action: str
    args: dict[str, str | int | bool] = Field(default_factory=dict, alias="with")

    @model_validator(mode="after")
    def _known(self) -> PlaybookAction:
        spec = ACTIONS.get(self.action)
        if spec is None:
            raise ValueError(
                f"unknown action {self.action[:40]!r}: expected one of {', '.join(ACTIONS)}"
            )
        allowed = {a.rstrip("?") for a in spec}
        needed = {a for a in spec if not a.endswith("?")}
        extra = sorted(set(self.args) - allowed)
        if extra:
            raise ValueError(f"action {self.action}: unknown argument(s) {', '.join(extra)}")
        missing = sorted(needed - set(self.args))
        if missing:
            raise ValueError(f"action {self.action}: missing argument(s) {', '.join(missing)}")
        if self.action == "freeze_evidence" and not ({"path", "evidence"} & set(self.args)):
            raise ValueError("action freeze_evidence: needs path or evidence")
        return self

    def placeholders(self) -> set[str]:
        return {
            m for v in self.args.values() if isinstance(v, str) for m in _PLACEHOLDER.findall(v)
        }


class PlaybookStep(_Strict):
    id: str
    title: str = Field(min_length=1, max_length=300)
    owner: str | FromEscalation
    deadline: str | FromEscalation | None = None
    actions: tuple[PlaybookAction, ...] = Field(default=(), max_length=20)
    #: a step without actions, or marked manual, waits for a person to complete it
    manual: bool = False

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("expected a lowercase identifier")
        return v

    @field_validator("deadline", mode="before")
    @classmethod
    def _deadline(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, dict):
            return _from_escalation(v)
        try:
            parse_duration(v, "deadline")
        except InputError as exc:
            raise ValueError(exc.message) from None
        return str(v)

    @field_validator("owner", mode="before")
    @classmethod
    def _owner(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return _from_escalation(v)
        if not isinstance(v, str) or not 0 < len(v.strip()) <= 200:
            raise ValueError("expected a person or role (1 to 200 characters)")
        return v


class Playbook(_Strict):
    id: str
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=4000)
    triggers: tuple[str, ...] = Field(min_length=1, max_length=20)
    severity: Severity = Severity.HIGH
    #: parameters an incident must carry for this playbook (checked before any step)
    parameters: tuple[str, ...] = ()
    steps: tuple[PlaybookStep, ...] = Field(min_length=1, max_length=50)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("expected a lowercase identifier")
        return v

    @field_validator("triggers")
    @classmethod
    def _triggers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        known = {k.value for k in DetectionKind} | set(INCIDENT_KINDS)
        bad = [t for t in v if t not in known]
        if bad:
            raise ValueError(
                f"unknown trigger(s) {', '.join(b[:40] for b in bad)}: expected detection "
                f"kinds or incident kinds ({', '.join(sorted(known))})"
            )
        return v

    @model_validator(mode="after")
    def _steps(self) -> Playbook:
        ids = [s.id for s in self.steps]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"step id(s) used twice: {', '.join(dup)}")
        used = {p for s in self.steps for a in s.actions for p in a.placeholders()}
        undeclared = sorted(used - set(self.parameters) - {"incident", "title", "severity"})
        if undeclared:
            raise ValueError(
                f"placeholder(s) {', '.join(undeclared)} are not declared in parameters"
            )
        return self

    def domains(self) -> set[Domain]:
        """The escalation domains its steps take owners or deadlines from."""
        out: set[Domain] = set()
        for s in self.steps:
            for v in (s.owner, s.deadline):
                if isinstance(v, FromEscalation):
                    out.add(v.escalation)
        return out


def _locate(loc: tuple[int | str, ...], raw: Any) -> str:
    parts: list[str] = []
    cur: Any = raw
    for p in loc:
        if isinstance(cur, list) and isinstance(p, int) and p < len(cur):
            item = cur[p]
            parts.append(
                f"{p}({item['id']})" if isinstance(item, dict) and "id" in item else str(p)
            )
            cur = item
        else:
            parts.append(str(p))
            cur = cur.get(p) if isinstance(cur, dict) else None
    return ".".join(parts) or "(top level)"


def parse_playbook(text: str | bytes, *, what: str = "playbook") -> Playbook:
    """A validated playbook (size-limited, aliases refused, the first problem named by
    its path, e.g. ``steps.1(contain).actions.0``)."""
    try:
        return load_document(
            text, Playbook, what=what, max_bytes=MAX_PLAYBOOK_BYTES, locate=_locate
        )
    except PlaybookError:
        raise
    except InputError as exc:
        raise PlaybookError(exc.message) from None


def load_playbook(path: Path) -> Playbook:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlaybookError(f"playbook {path.name}: cannot read ({exc.strerror})") from None
    return parse_playbook(data, what=f"playbook {path.name}")


def shipped_playbooks() -> list[Playbook]:
    """The playbooks Bastion ships (``bastion/incidents/playbooks/*.yaml``), by id."""
    pack = resources.files("bastion.incidents").joinpath("playbooks")
    out = [
        parse_playbook(p.read_bytes(), what=f"playbook {p.name}")
        for p in pack.iterdir()
        if p.name.endswith(".yaml")
    ]
    return sorted(out, key=lambda p: p.id)


def get_playbook(ref: str) -> Playbook:
    """A shipped playbook by id, or a playbook file by path."""
    for p in shipped_playbooks():
        if p.id == ref:
            return p
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_playbook(path)
    known = ", ".join(p.id for p in shipped_playbooks())
    raise PlaybookError(f"no playbook {ref[:60]!r}: name a shipped one ({known}) or a YAML file")


def playbooks_for(kind: str) -> list[Playbook]:
    """The shipped playbooks a detection or incident kind triggers."""
    return [p for p in shipped_playbooks() if kind in p.triggers]
