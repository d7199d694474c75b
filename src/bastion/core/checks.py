"""Checks: anything that examines a subject and returns evidence.

A check subclasses :class:`Check`, sets ``id`` and metadata as class attributes, and is
registered by defining it (``__init_subclass__``). :func:`run_check` runs it, stores the
evidence and ledgers its digest. A check that raises is recorded as ``Verdict.ERROR``: the
gate then fails closed rather than missing the result.

Evidence is bound to what the check examined: a check returns the digest of what it
actually looked at (``CheckResult.examined_digest``) and :func:`run_check` refuses a
subject digest that differs (recording nothing), or fills it in when the caller gave none.

Remote callers (the API) are not trusted with the server's filesystem: with
``remote=True`` only the parameters a check declares in ``remote_params`` are accepted,
each validated and size-limited, and every path is confined by :func:`confine_path` to
the operator's ``check_roots``, never inside the Bastion home, ``/proc``, ``/sys`` or
``/dev``. Precomputed results (``params["result"]``, a ready ``model``) therefore only
come from in-process callers.

Evidence has a typed contract: a check that others read subclasses
:class:`TypedCheck` with a frozen pydantic model of its ``data`` (``data_model``, taken
from the type parameter). :func:`run_check` validates a result's data against it before
anything is recorded (a mismatch is a bug in the check: the run is recorded as
``Verdict.ERROR`` naming the field, never its value), and ``TheCheck.read(evidence)``
returns the typed model, refusing evidence of another check. Other rooms import the check
class and read its model, never its id string or its keys.

Evidence written outside a check's ``run`` (a recorded transformation: a simulation, an
attestation, a rating done by a privileged function) goes through
:func:`record_evidence`, the one typed recorder: the check must be registered and the data
must match its model, so every evidence kind is a registered, documented check.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from bastion.core.errors import BastionError, CheckError, InputError, NotFoundError
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict

if TYPE_CHECKING:
    from bastion.core.settings import Settings
    from bastion.core.workspace import Workspace

__all__ = [
    "Check",
    "CheckContext",
    "CheckResult",
    "EvidenceData",
    "ParamKind",
    "ParamSpec",
    "RecordedCheck",
    "TypedCheck",
    "all_checks",
    "confine_path",
    "get_check",
    "record_evidence",
    "run_check",
    "validate_remote_params",
]

_log = logging.getLogger(__name__)

_ID = re.compile(r"^[a-z][a-z0-9_.-]{2,99}$")
_REGISTRY: dict[str, type[Check]] = {}


@dataclass(frozen=True)
class CheckResult:
    """What a check concluded. ``examined_digest`` is the digest of what it actually looked
    at (a model's model-signing manifest digest, a file's sha256); ``None`` when it cannot
    tell, which only in-process callers may combine with a subject digest of their own."""

    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    attachments: Mapping[str, bytes] = field(default_factory=dict)
    examined_digest: str | None = None


@dataclass(frozen=True)
class CheckContext:
    """What a running check may use: the workspace (blob store, database) and parameters.

    ``remote`` is true for an API caller's run: ``params`` then holds only validated,
    declared values (paths already confined and resolved)."""

    workspace: Workspace
    params: Mapping[str, Any]
    actor: str
    remote: bool = False


class ParamKind(enum.StrEnum):
    """What a remote caller may pass for a parameter."""

    STR = "str"
    STRS = "strs"  # a list of strings, or one comma-separated string
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    ENUM = "enum"
    PATH = "path"  # confined to the configured check roots
    PATHS = "paths"  # a list of confined paths, or one comma-separated string
    # Trust anchors (public keys, CA certificates, Sigstore trust roots): confined to the
    # operator's trust_anchors directories, never to check_roots. A caller who could name
    # an anchor under a check root could bring their own CA, mint any identity and satisfy
    # a gate's signer condition.
    ANCHOR = "anchor"
    ANCHORS = "anchors"


MAX_REMOTE_PARAMS = 32
MAX_PATH_LENGTH = 4096
# Never readable through a check parameter, whatever the roots say.
_SYSTEM_DIRS = (Path("/proc"), Path("/sys"), Path("/dev"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter a remote caller may set. ``subject_ref``: when the caller leaves it
    out, the subject's ref is used, validated as this parameter (so a check that reads
    ``params.path or subject.ref`` never reads an unconfined ref)."""

    kind: ParamKind
    description: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 500
    max_items: int = 16
    subject_ref: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind.value, "description": self.description}
        if self.choices:
            d["choices"] = list(self.choices)
        if self.minimum is not None:
            d["minimum"] = self.minimum
        if self.maximum is not None:
            d["maximum"] = self.maximum
        if self.subject_ref:
            d["default"] = "the subject's ref"
        return d


class EvidenceData(BaseModel):
    """Base of a check's typed evidence data: frozen. The fields a check declares are the
    contract other rooms read (validated when evidence is recorded and when it is read);
    further keys a check records for people (details, attachments) are kept as they are."""

    model_config = ConfigDict(frozen=True, extra="allow")


class Check(ABC):
    """Base of every check.

    ``remote_params`` says which parameters an API caller may set (deny by default:
    none); ``remote`` False keeps the check off the API entirely (it needs in-process
    input such as a precomputed result, or server keys). A check that reads files must
    take their paths only from parameters declared with a path kind."""

    id: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    subject_kinds: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[Severity] = Severity.MEDIUM
    references: ClassVar[tuple[str, ...]] = ()
    abstract: ClassVar[bool] = False
    remote: ClassVar[bool] = True
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {}
    #: The frozen pydantic model of this check's evidence ``data`` (None: untyped).
    data_model: ClassVar[type[BaseModel] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = _model_parameter(cls)
        if model is not None:
            cls.data_model = model
        if cls.__dict__.get("abstract", False):
            return
        if cls.data_model is not None and not cls.data_model.model_config.get("frozen"):
            raise TypeError(f"{cls.__name__}.data_model must be a frozen pydantic model")
        cid = getattr(cls, "id", None)
        if not isinstance(cid, str) or not _ID.match(cid):
            raise TypeError(f"{cls.__name__}.id must match {_ID.pattern}")
        if not getattr(cls, "title", None):
            raise TypeError(f"{cls.__name__} must set a title")
        other = _REGISTRY.get(cid)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise TypeError(f"check id {cid} is already taken by {other.__qualname__}")
        _REGISTRY[cid] = cls

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        return {
            "id": cls.id,
            "title": cls.title,
            "description": cls.description,
            "subject_kinds": list(cls.subject_kinds),
            "severity": cls.severity.value,
            "references": list(cls.references),
            "remote": cls.remote,
            "recorded": issubclass(cls, RecordedCheck),
            "data_model": cls.data_model.__name__ if cls.data_model is not None else None,
            "remote_params": {k: v.to_dict() for k, v in cls.remote_params.items()}
            if cls.remote
            else {},
        }

    @abstractmethod
    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        """Examine ``subject``. Never execute what is examined."""

    @classmethod
    def validate_data(cls, data: Mapping[str, Any]) -> BaseModel | None:
        """``data`` as this check's model, or ``CheckError`` naming the field that does not
        match (never its value). None when the check declares no model."""
        model = cls.data_model
        if model is None:
            return None
        try:
            return model.model_validate(dict(data))
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"]) or "data"
            raise CheckError(
                f"check {cls.id} produced data that does not match its data model "
                f"{model.__name__} (data.{where}: {e['msg']}); this is a bug in the check"
            ) from None

    @classmethod
    def read(cls, evidence: Evidence) -> BaseModel:
        """The typed data of ``evidence``, which must be evidence of this check that holds
        a result (``CheckError`` for another check's evidence, an ERROR record, or data
        that does not match the model)."""
        if evidence.check_id != cls.id:
            raise CheckError(
                f"evidence {evidence.id[:8]} is {evidence.check_id[:100]} evidence, not {cls.id}"
            )
        if cls.data_model is None:
            raise CheckError(f"check {cls.id} declares no data model to read its evidence with")
        if evidence.verdict is Verdict.ERROR:
            raise CheckError(
                f"{cls.id} evidence {evidence.id[:8]} records an error, not a {cls.id} result"
            )
        try:
            return cls.data_model.model_validate(evidence.data)
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"]) or "data"
            raise CheckError(
                f"{cls.id} evidence {evidence.id[:8]} does not hold {cls.data_model.__name__} "
                f"data (data.{where}: {e['msg']})"
            ) from None


D = TypeVar("D", bound=BaseModel)


def _model_parameter(cls: type) -> type[BaseModel] | None:
    """The model ``D`` of ``class X(TypedCheck[D])`` (None when ``cls`` names none)."""
    if "TypedCheck" not in globals():
        return None  # defining TypedCheck itself
    for base in getattr(cls, "__orig_bases__", ()):
        origin = get_origin(base)
        if isinstance(origin, type) and issubclass(origin, TypedCheck):
            args = get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
                return args[0]
    return None


class TypedCheck(Check, Generic[D]):
    """A check with a typed contract: ``class X(TypedCheck[XData])`` sets ``data_model``
    to ``XData`` and types ``X.read(evidence)`` as ``XData``."""

    abstract = True

    @classmethod
    def read(cls, evidence: Evidence) -> D:
        return cast(D, super().read(evidence))


class RecordedCheck(TypedCheck[D]):
    """A recorded transformation: evidence written by a room's own function through
    :func:`record_evidence` (a simulation, an attestation), never by running the check.
    It is registered and documented like any check; running it is refused."""

    abstract = True
    remote = False
    #: Where the evidence comes from, for the refusal and the docs.
    recorded_by: ClassVar[str] = "its room's own command"

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        raise CheckError(
            f"{self.id} evidence is recorded by {self.recorded_by}, not by running a check"
        )


def get_check(check_id: str) -> type[Check]:
    try:
        return _REGISTRY[check_id]
    except KeyError:
        raise NotFoundError(f"no check with id {check_id!r}") from None


def all_checks() -> list[type[Check]]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _forbidden(settings: Settings) -> list[Path]:
    out = [Path(os.path.realpath(settings.home)), *_SYSTEM_DIRS]
    out += [Path(os.path.realpath(p)) for p in (settings.key_dir, settings.blob_dir)]
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        out.append(Path(os.path.realpath(url.removeprefix("sqlite:///"))))
    return out


def confine_path(
    value: object, settings: Settings, *, name: str = "path", anchor: bool = False
) -> Path:
    """Resolve a remote caller's path parameter, or refuse it (``InputError``).

    The real path (every symlink resolved) must lie under one of ``settings.check_roots``
    and never inside the Bastion home (keys, database, blobs), ``/proc``, ``/sys`` or
    ``/dev``. A relative path is taken under the first root. Without configured roots
    every path is refused. Messages name the parameter and the value given, never what a
    file holds, and the same refusal is given whether the path exists or not.

    ``anchor``: the path names a trust anchor, and must lie under one of
    ``settings.trust_anchors`` instead (the operator's directory of trusted keys, CA
    certificates and Sigstore trust roots), with the same exclusions.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_PATH_LENGTH:
        raise InputError(f"params.{name}: expected a path of 1-{MAX_PATH_LENGTH} characters")
    if _CONTROL.search(value):
        raise InputError(f"params.{name}: control characters are not allowed in a path")
    what, env = ("trust-anchor", "TRUST_ANCHORS") if anchor else ("check", "CHECK_ROOTS")
    configured = settings.trust_anchors if anchor else settings.check_roots
    roots = [Path(os.path.realpath(r)) for r in configured]
    if not roots:
        raise InputError(
            f"params.{name}: API callers may not name server files here; no {what} roots "
            f"are configured (the operator sets BASTION_{env})"
        )
    given = Path(value)
    real = Path(os.path.realpath(given if given.is_absolute() else roots[0] / given))
    for bad in _forbidden(settings):
        if real == bad or real.is_relative_to(bad):
            raise InputError(
                f"params.{name}: {value!r} is not readable by checks (Bastion's own state "
                "and system pseudo-files are off limits)"
            )
    if not any(real == r or real.is_relative_to(r) for r in roots):
        raise InputError(
            f"params.{name}: {value!r} is not under a configured {what} root "
            f"({os.pathsep.join(str(r) for r in roots)})"
        )
    return real


def _text(value: object, name: str, spec: ParamSpec) -> str:
    if not isinstance(value, str):
        raise InputError(f"params.{name}: expected a string")
    if len(value) > spec.max_length:
        raise InputError(f"params.{name}: longer than {spec.max_length} characters")
    if _CONTROL.search(value):
        raise InputError(f"params.{name}: control characters are not allowed")
    return value


def _items(value: object, name: str, spec: ParamSpec) -> list[object]:
    if isinstance(value, str):
        items: list[object] = [v for v in value.split(",") if v]
    elif isinstance(value, list):
        items = list(value)
    else:
        raise InputError(f"params.{name}: expected a list of strings or a comma-separated string")
    if len(items) > spec.max_items:
        raise InputError(f"params.{name}: more than {spec.max_items} items")
    return items


def _number(value: object, name: str, spec: ParamSpec, kind: type) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"params.{name}: expected a number")
    if kind is int and not isinstance(value, int):
        raise InputError(f"params.{name}: expected an integer")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"params.{name}: expected a finite number")
    if (spec.minimum is not None and value < spec.minimum) or (
        spec.maximum is not None and value > spec.maximum
    ):
        raise InputError(f"params.{name}: must lie in [{spec.minimum}, {spec.maximum}]")
    return value if kind is int else float(value)


def _validate(value: object, name: str, spec: ParamSpec, settings: Settings) -> object:
    kind = spec.kind
    if kind is ParamKind.STR:
        return _text(value, name, spec)
    if kind is ParamKind.STRS:
        return [_text(v, name, spec) for v in _items(value, name, spec)]
    if kind is ParamKind.INT:
        return _number(value, name, spec, int)
    if kind is ParamKind.FLOAT:
        return _number(value, name, spec, float)
    if kind is ParamKind.BOOL:
        if not isinstance(value, bool):
            raise InputError(f"params.{name}: expected true or false")
        return value
    if kind is ParamKind.ENUM:
        if not isinstance(value, str) or value not in spec.choices:
            raise InputError(f"params.{name}: expected one of {', '.join(spec.choices)}")
        return value
    if kind is ParamKind.PATH:
        return str(confine_path(value, settings, name=name))
    if kind is ParamKind.PATHS:
        return [str(confine_path(v, settings, name=name)) for v in _items(value, name, spec)]
    if kind is ParamKind.ANCHOR:
        return str(confine_path(value, settings, name=name, anchor=True))
    if kind is ParamKind.ANCHORS:
        items = _items(value, name, spec)
        return [str(confine_path(v, settings, name=name, anchor=True)) for v in items]
    raise AssertionError(kind)  # pragma: no cover


def validate_remote_params(
    check: type[Check], subject: Subject, params: Mapping[str, Any], settings: Settings
) -> dict[str, Any]:
    """The parameters of a remote run, reduced to what ``check`` declares and validated.

    An undeclared parameter is refused by name (``InputError``, HTTP 422), never ignored.
    """
    if not check.remote:
        raise CheckError(
            f"check {check.id} cannot be run by an API caller (it needs in-process input); "
            "run it through its own command or route"
        )
    if not isinstance(params, Mapping):
        raise InputError("params: expected an object")
    if len(params) > MAX_REMOTE_PARAMS:
        raise InputError(f"params: more than {MAX_REMOTE_PARAMS} parameters")
    specs = check.remote_params
    for key in params:
        if key not in specs:
            allowed = ", ".join(sorted(specs)) or "none"
            raise InputError(
                f"params.{str(key)[:64]}: check {check.id} does not accept this parameter "
                f"from an API caller (it accepts: {allowed})"
            )
    out: dict[str, Any] = {}
    for key, spec in specs.items():
        if key in params and params[key] is not None:
            out[key] = _validate(params[key], key, spec, settings)
        elif spec.subject_ref:
            out[key] = _validate(subject.ref, key, spec, settings)
    return out


def run_check(
    workspace: Workspace,
    check: Check | type[Check] | str,
    subject: Subject,
    *,
    actor: str = "system",
    params: Mapping[str, Any] | None = None,
    remote: bool = False,
) -> Evidence:
    """Run a check, persist its evidence (attachments into the blob store) and ledger it.

    ``remote`` marks an API caller's run: parameters are validated against the check's
    ``remote_params`` (see :func:`validate_remote_params`), an exception outside Bastion's
    own errors is recorded by type only, and a subject digest is accepted only when the
    check vouches for it. For every caller, a subject digest that differs from the digest
    of what the check examined is refused (``CheckError``) and nothing is recorded.
    """
    if isinstance(check, str):
        check = get_check(check)
    if remote and not isinstance(check, type):
        raise CheckError("a remote run names a registered check, not a prepared instance")
    inst = check() if isinstance(check, type) else check
    if inst.subject_kinds and subject.kind not in inst.subject_kinds:
        raise CheckError(
            f"check {inst.id} examines {', '.join(inst.subject_kinds)}, not {subject.kind}"
        )
    if remote:
        run_params = validate_remote_params(type(inst), subject, params or {}, workspace.settings)
    else:
        run_params = dict(params or {})
    ctx = CheckContext(workspace, run_params, actor, remote)
    try:
        result = inst.run(subject, ctx)
        if result.verdict is not Verdict.ERROR:
            type(inst).validate_data(result.data)
    except BastionError as exc:
        if remote and subject.digest is not None:
            raise  # nothing vouches for the caller's digest: refuse, record nothing
        result = CheckResult(Verdict.ERROR, data={"error": exc.message})
    except Exception as exc:
        if remote:
            # Never echo what a library put in its message (file contents, paths, values):
            # not in evidence, and not in the log unless the operator asks for debug output.
            _log.warning("check %s failed on a remote run: %s", inst.id, type(exc).__name__)
            _log.debug("check %s remote failure", inst.id, exc_info=exc)
            if subject.digest is not None:
                raise CheckError(
                    f"check {inst.id} failed ({type(exc).__name__}); nothing was recorded"
                ) from None
            result = CheckResult(
                Verdict.ERROR,
                data={"error": f"{type(exc).__name__}: the check failed"},
            )
        else:
            result = CheckResult(
                Verdict.ERROR, data={"error": f"{type(exc).__name__}: {exc}"[:500]}
            )
    subject = _bind(inst, subject, result, remote)
    blobs = [workspace.blobs.put(content) for _name, content in sorted(result.attachments.items())]
    data = dict(result.data)
    if result.attachments:
        data["attachments"] = dict(zip(sorted(result.attachments), blobs, strict=True))
    return workspace.evidence.record(
        check_id=inst.id,
        subject=subject,
        verdict=result.verdict,
        findings=result.findings,
        data=data,
        blobs=blobs,
        actor=actor,
    )


def record_evidence(
    workspace: Workspace,
    check: type[Check],
    subject: Subject,
    *,
    verdict: Verdict,
    data: BaseModel | Mapping[str, Any],
    findings: tuple[Finding, ...] = (),
    actor: str = "system",
    session: Any = None,
) -> Evidence:
    """The typed recorder: store evidence a room produced outside a check's ``run`` (a
    recorded transformation), as evidence of the registered ``check``, after validating
    ``data`` against its model (``CheckError``, nothing recorded, on a mismatch).
    ``session``: record inside the caller's transaction."""
    if _REGISTRY.get(check.id) is not check:
        raise CheckError(f"{check.__qualname__} is not the registered check {check.id}")
    if check.subject_kinds and subject.kind not in check.subject_kinds:
        raise CheckError(
            f"check {check.id} is about {', '.join(check.subject_kinds)}, not {subject.kind}"
        )
    body = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
    if verdict is not Verdict.ERROR:
        check.validate_data(body)
    return workspace.evidence.record(
        check_id=check.id,
        subject=subject,
        verdict=verdict,
        findings=findings,
        data=body,
        actor=actor,
        session=session,
    )


def _bind(inst: Check, subject: Subject, result: CheckResult, remote: bool) -> Subject:
    """The subject the evidence is recorded under: pinned to what the check examined."""
    examined = result.examined_digest
    if examined is None:
        if remote and subject.digest is not None:
            raise CheckError(
                f"check {inst.id} cannot vouch for subject digest {subject.digest[:80]}: it "
                "reports no digest of what it examined; leave subject.digest out"
            )
        return subject
    if subject.digest is None:
        return replace(subject, digest=examined)
    if subject.digest != examined:
        raise CheckError(
            f"subject digest {subject.digest[:80]} is not the digest of what check {inst.id} "
            f"examined ({examined}); evidence is only recorded about what was examined"
        )
    return subject
