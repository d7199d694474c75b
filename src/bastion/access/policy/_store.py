"""A policy directory, parsed once into an immutable snapshot, and re-loaded atomically.

A directory holds ``*.cedar`` files (every policy names itself with ``@id`` and may say
why with ``@reason``), and optionally ``schema.cedarschema`` (else the bundled schema),
``obligations.yaml``, ``entities.yaml`` (resources and their attributes) and
``baselines.yaml`` (each role's usual actions, for the least-privilege review).

Loading parses the policies into a ``cedarpy.PolicySet`` once (re-parsing the text on each
decision costs about three times as much), validates them against the schema, checks
the obligations name real permit policies, and precomputes each resource's entity JSON.
A new snapshot replaces the old one in a single assignment; a directory that does not
load raises :class:`PolicyError` and the old snapshot stays active.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources as _resources
from pathlib import Path
from typing import Any

import cedarpy

from bastion.access.interface import PolicyError, ResourceKind, ResourceRef
from bastion.access.policy._documents import (
    MAX_DOCUMENT_BYTES,
    Baselines,
    EntitiesFile,
    ObligationRule,
    ObligationsFile,
)
from bastion.core.documents import load_document

__all__ = [
    "CLASSIFICATION_RANK",
    "PolicySnapshot",
    "PolicyStore",
    "bundled_policy_dir",
    "bundled_schema",
    "load_snapshot",
    "resource_fragment",
    "resource_type",
]

MAX_POLICY_FILES = 200
MAX_POLICY_BYTES = 4 * 1024 * 1024
_POLICY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_ATTR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

#: Inventory classifications, least to most sensitive; anything else counts as the most.
CLASSIFICATION_RANK = {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}
#: An asset without a tier is treated as the highest (fail closed).
DEFAULT_TIER = 4

_TYPES = {
    ResourceKind.ENDPOINT: "Endpoint",
    ResourceKind.MODEL_VERSION: "ModelVersion",
    ResourceKind.DATASET: "Dataset",
}


def resource_type(kind: ResourceKind) -> str:
    return _TYPES[kind]


def bundled_policy_dir() -> Path:
    """The example policy set for the bundled credit-scoring system."""
    return Path(str(_resources.files("bastion.access.policy") / "data" / "credit-scoring"))


def bundled_schema() -> str:
    return (_resources.files("bastion.access.policy") / "data" / "schema.cedarschema").read_text()


def _attr_value(name: str, value: object) -> Any:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, list | tuple | frozenset | set) and all(isinstance(v, str) for v in value):
        return sorted(value)  # a JSON array is a Cedar set; sorted: one spelling per value
    raise PolicyError(f"attribute {name!r}: expected a string, number, boolean or list of strings")


def resource_fragment(ref: ResourceRef) -> str:
    """The Cedar entity JSON of a resource: its attributes, with the classification's rank,
    an unknown classification ranked most sensitive and a missing tier the highest."""
    attrs: dict[str, Any] = {}
    for k, v in ref.attributes.items():
        if not _ATTR.match(k):
            raise PolicyError(f"resource {ref.id!r}: attribute name {k!r} is not an identifier")
        attrs[k] = _attr_value(k, v)
    cls = str(attrs.get("classification", "restricted"))
    attrs["classification"] = cls
    attrs["classification_rank"] = CLASSIFICATION_RANK.get(cls, 3)
    attrs.setdefault("owner", "")
    attrs.setdefault("asset_kind", "unknown")
    if not isinstance(attrs.get("tier"), int) or isinstance(attrs.get("tier"), bool):
        attrs["tier"] = DEFAULT_TIER
    return json.dumps(
        {"uid": {"type": _TYPES[ref.kind], "id": ref.id}, "attrs": attrs, "parents": []},
        separators=(",", ":"),
        sort_keys=True,
    )


@dataclass(frozen=True)
class PolicySnapshot:
    """One loaded directory: never changed once built (a reload builds a new one)."""

    directory: Path
    digest: str  # sha256 over the files, in name order
    files: tuple[str, ...]
    policy_set: cedarpy.PolicySet
    #: Cedar's positional id (policy0, ...) -> the policy's @id
    ids: Mapping[str, str]
    effects: Mapping[str, str]  # @id -> permit | forbid
    reasons: Mapping[str, str]  # @id -> @reason
    obligations: Mapping[str, ObligationRule]
    rate_rank: Mapping[str, int]
    resources: Mapping[tuple[ResourceKind, str], str]  # precomputed entity JSON
    #: each resource's entity, parsed once (a decision adds only the principal to it)
    resource_sets: Mapping[tuple[ResourceKind, str], cedarpy.Entities]
    baselines: Baselines
    loaded_at: float = field(default_factory=time.time)

    @property
    def policy_ids(self) -> tuple[str, ...]:
        return tuple(self.effects)

    def summary(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "digest": self.digest,
            "files": list(self.files),
            "policies": [
                {"id": pid, "effect": self.effects[pid], "reason": self.reasons.get(pid)}
                for pid in self.effects
            ],
            "obligations": sorted(self.obligations),
            "resources": len(self.resources),
        }


def _read(path: Path, limit: int = MAX_DOCUMENT_BYTES) -> str:
    try:
        size = path.stat().st_size
        if size > limit:
            raise PolicyError(f"{path}: larger than {limit} bytes")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None


def _policy_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise PolicyError(f"{directory}: not a policy directory")
    files = sorted(p for p in directory.glob("*.cedar") if p.is_file())
    if not files:
        raise PolicyError(f"{directory}: no *.cedar policy files (an empty set would deny all)")
    if len(files) > MAX_POLICY_FILES:
        raise PolicyError(f"{directory}: more than {MAX_POLICY_FILES} policy files")
    return files


def fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times: cheap to take, changes when a file does."""
    out: list[tuple[str, int, int]] = []
    try:
        for p in sorted(directory.iterdir()):
            if p.suffix in (".cedar", ".yaml", ".cedarschema"):
                st = p.stat()
                out.append((p.name, st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    return tuple(out)


def _parse_error(files: list[Path], texts: list[str]) -> PolicyError:
    for p, t in zip(files, texts, strict=True):
        try:
            cedarpy.PolicySet.from_str(t)
        except ValueError as exc:
            return PolicyError(f"{p}: {str(exc).splitlines()[0][:300]}")
    return PolicyError(f"{files[0].parent}: policies do not parse together (duplicate ids?)")


def load_snapshot(
    directory: Path | str, *, resources: Iterable[ResourceRef] = ()
) -> PolicySnapshot:
    """Parse and validate a policy directory; :class:`PolicyError` names the first problem."""
    directory = Path(directory)
    files = _policy_files(directory)
    texts = [_read(p, MAX_POLICY_BYTES) for p in files]
    if sum(len(t) for t in texts) > MAX_POLICY_BYTES:
        raise PolicyError(f"{directory}: policies larger than {MAX_POLICY_BYTES} bytes in all")
    text = "\n".join(texts)
    try:
        policy_set = cedarpy.PolicySet.from_str(text)
        est = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError:
        raise _parse_error(files, texts) from None
    if est.get("templates"):
        raise PolicyError(f"{directory}: policy templates are not supported here; write policies")
    ids: dict[str, str] = {}
    effects: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for cedar_id, body in est.get("staticPolicies", {}).items():
        ann = body.get("annotations") or {}
        pid = ann.get("id")
        if not pid or not _POLICY_ID.match(pid):
            raise PolicyError(
                f'{directory}: every policy needs an @id("...") annotation '
                f"(letters, digits, _.:-); the policy at position {cedar_id} has "
                + ("none" if not pid else f"{pid!r}")
            )
        if pid in effects:
            raise PolicyError(f"{directory}: policy id {pid!r} is used twice")
        ids[cedar_id] = pid
        effects[pid] = body["effect"]
        if ann.get("reason"):
            reasons[pid] = str(ann["reason"])[:500]

    schema_path = directory / "schema.cedarschema"
    schema_text = _read(schema_path) if schema_path.exists() else bundled_schema()
    try:
        schema = cedarpy.Schema.from_str(schema_text)
    except ValueError as exc:
        raise PolicyError(f"{schema_path}: {str(exc).splitlines()[0][:300]}") from None
    result = cedarpy.validate_policies(text, schema)
    if not result.validation_passed:
        errs = result.errors
        first = errs[0]
        more = f" ({len(errs)} problems in all)" if len(errs) > 1 else ""
        raise PolicyError(
            f"{directory}: policy {ids.get(first.policy_id, first.policy_id)!r} does not "
            f"validate against the schema: {first.error[:300]}{more}"
        )

    obligations_file = ObligationsFile()
    op = directory / "obligations.yaml"
    if op.exists():
        obligations_file = read_policy_document(op, ObligationsFile)
    rate_rank = {name: i for i, name in enumerate(obligations_file.rate_classes)}
    if len(rate_rank) != len(obligations_file.rate_classes):
        raise PolicyError(f"{op}: rate_classes names a class twice")
    rules: dict[str, ObligationRule] = {}
    for rule in obligations_file.obligations:
        if rule.policy not in effects:
            raise PolicyError(f"{op}: obligations for {rule.policy!r}, which no policy is")
        if effects[rule.policy] != "permit":
            raise PolicyError(f"{op}: {rule.policy!r} is a forbid policy; it allows nothing")
        if rule.policy in rules:
            raise PolicyError(f"{op}: obligations for {rule.policy!r} given twice")
        if rule.rate_class is not None and rule.rate_class not in rate_rank:
            raise PolicyError(
                f"{op}: {rule.policy!r}: rate class {rule.rate_class!r} is not in rate_classes"
            )
        rules[rule.policy] = rule

    refs: list[ResourceRef] = []
    ep = directory / "entities.yaml"
    if ep.exists():
        ef = read_policy_document(ep, EntitiesFile)
        refs.extend(ResourceRef(r.kind, r.id, r.attributes) for r in ef.resources)
    refs.extend(resources)
    fragments: dict[tuple[ResourceKind, str], str] = {}
    for ref in refs:
        fragments[(ref.kind, ref.id)] = resource_fragment(ref)
    try:
        handles = {k: cedarpy.Entities.from_json_str("[" + f + "]") for k, f in fragments.items()}
    except ValueError as exc:
        raise PolicyError(f"{directory}: a resource entity does not parse: {exc}") from None
    bp = directory / "baselines.yaml"
    baselines = read_policy_document(bp, Baselines) if bp.exists() else Baselines()

    h = hashlib.sha256()
    names: list[str] = []
    for p in sorted(directory.iterdir()):
        if p.is_file() and p.suffix in (".cedar", ".yaml", ".cedarschema"):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
            names.append(p.name)
    return PolicySnapshot(
        directory=directory,
        digest="sha256:" + h.hexdigest(),
        files=tuple(names),
        policy_set=policy_set,
        ids=ids,
        effects=effects,
        reasons=reasons,
        obligations=rules,
        rate_rank=rate_rank,
        resources=fragments,
        resource_sets=handles,
        baselines=baselines,
    )


def read_policy_document(path: Path, model: type[Any]) -> Any:
    from bastion.core.errors import InputError

    try:
        return load_document(_read(path), model, what=str(path), max_bytes=MAX_DOCUMENT_BYTES)
    except PolicyError:
        raise
    except InputError as exc:
        raise PolicyError(str(exc)) from None


class PolicyStore:
    """The active snapshot of one directory, swapped atomically on a successful reload.

    ``check_interval`` bounds how often :meth:`current` looks at the files (a ``stat`` of
    each): an edit takes effect within that many seconds. A directory that no longer
    loads keeps the old snapshot; ``on_reject`` (given the error) is told once per change.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        resources: Iterable[ResourceRef] = (),
        check_interval: float = 1.0,
        on_load: Callable[[PolicySnapshot], None] | None = None,
        on_reject: Callable[[PolicyError], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self._resources = tuple(resources)
        self.check_interval = check_interval
        self._on_load, self._on_reject = on_load, on_reject
        self._lock = threading.Lock()
        self.last_error: PolicyError | None = None
        self._print = fingerprint(self.directory)
        self._snapshot = load_snapshot(self.directory, resources=self._resources)
        self._checked = time.monotonic()
        if on_load is not None:
            on_load(self._snapshot)

    @property
    def snapshot(self) -> PolicySnapshot:
        return self._snapshot

    def current(self) -> PolicySnapshot:
        """The active snapshot, re-loading first if the files changed (checked at most
        once per ``check_interval``). Never raises: a bad edit leaves the old set."""
        now = time.monotonic()
        if now - self._checked >= self.check_interval and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                fp = fingerprint(self.directory)
                if fp != self._print:
                    self._print = fp
                    with contextlib.suppress(PolicyError):  # kept in last_error
                        self._swap()
            finally:
                self._lock.release()
        return self._snapshot

    def reload(self, *, resources: Iterable[ResourceRef] | None = None) -> PolicySnapshot:
        """Load the directory now; raise :class:`PolicyError` (old set kept) if it fails."""
        with self._lock:
            if resources is not None:
                self._resources = tuple(resources)
            self._print = fingerprint(self.directory)
            return self._swap()

    def _swap(self) -> PolicySnapshot:
        try:
            snap = load_snapshot(self.directory, resources=self._resources)
        except PolicyError as exc:
            self.last_error = exc
            if self._on_reject is not None:
                self._on_reject(exc)
            raise
        self._snapshot = snap  # one assignment: readers see the old set or the new one
        self.last_error = None
        if self._on_load is not None:
            self._on_load(snap)
        return snap


def env_policy_dir() -> Path | None:
    v = os.environ.get("BASTION_POLICY_DIR")
    return Path(v) if v else None
