"""Public entry points: model a file, a stored system, record a run as evidence."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bastion.core.errors import InputError
from bastion.core.types import Evidence, Severity, Subject
from bastion.manifest import DEFAULT_MAX_BYTES, SystemManifest, parse_manifest
from bastion.threats._model import Suppression, ThreatModel, load_suppressions, model_threats
from bastion.threats._outputs import element_lines
from bastion.threats._questionnaire import (
    Questionnaire,
    QuestionnaireResult,
    load_questionnaire,
    score_questionnaire,
)
from bastion.threats._rules import RuleSet, load_rules

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = [
    "QuestionnaireArg",
    "model_file",
    "model_text",
    "parse_questionnaire_arg",
    "record_model",
    "stored_suppressions",
    "system_threats",
]


def _read(path: Path | str, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read manifest ({exc.strerror})") from None
    if len(raw) > max_bytes:
        raise InputError(f"{path}: manifest is larger than {max_bytes} bytes")
    return raw


# (asset or None when the file names it, a path or an already parsed questionnaire)
QuestionnaireArg = tuple[str | None, Path | str | Questionnaire]


def parse_questionnaire_arg(arg: str) -> QuestionnaireArg:
    """``ASSET=FILE`` or ``FILE`` (the file then names its ``asset``)."""
    asset, sep, path = arg.partition("=")
    if sep and asset and "/" not in asset and not Path(arg).exists():
        return asset, path
    return None, arg


def _questionnaires(
    manifest: SystemManifest, items: Sequence[QuestionnaireArg], today: date | None
) -> tuple[list[QuestionnaireResult], list[dict[str, Any]]]:
    results: list[QuestionnaireResult] = []
    docs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, (asset, item) in enumerate(items):
        if isinstance(item, Questionnaire):
            q, path = item, f"questionnaires[{i}]"
        else:
            q, path = load_questionnaire(item), os.fspath(item)
        target = asset or q.asset
        if target is None:
            raise InputError(
                f"{path}: the questionnaire names no asset; fix: add `asset: ID` to it or "
                f"pass --questionnaire ID={path}"
            )
        if target in seen:
            raise InputError(
                f"{path}: a second questionnaire for asset '{target}'; fix: give one per asset"
            )
        seen.add(target)
        res = score_questionnaire(q, target, manifest, today=today)
        results.append(res)
        docs.append(res.to_dict() | {"file": path})
    return results, docs


def model_text(
    text: str | bytes,
    *,
    source: str = "<string>",
    rules: RuleSet | None = None,
    suppressions: Path | str | None = None,
    questionnaires: Sequence[QuestionnaireArg] = (),
    lenient_suppressions: bool = False,
    workspace: Workspace | None = None,
    today: date | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ThreatModel:
    """Model manifest text; findings carry the manifest line of their element.

    Each questionnaire (asset, file) is scored against the manifest: its TP-* findings join
    the model, and its verdict counts as evidence of ``threats.questionnaire`` for the asset.
    """
    manifest = parse_manifest(text, source, max_bytes=max_bytes)
    decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    skipped: list[str] | None = [] if lenient_suppressions else None
    sup = (
        load_suppressions(suppressions, manifest, rules, skipped=skipped)
        if suppressions is not None
        else []
    )
    results, docs = _questionnaires(manifest, questionnaires, today)
    local = {
        ("threats.questionnaire", r.asset_id): (r.verdict, f"questionnaire {d['file']}")
        for r, d in zip(results, docs, strict=True)
    }
    model = model_threats(
        manifest,
        rules=rules,
        suppressions=sup,
        workspace=workspace,
        today=today,
        source=source,
        lines=element_lines(decoded),
        extra_findings=[f for r in results for f in r.findings],
        local_evidence=local,
        questionnaires=docs,
    )
    extra_notes = (*(skipped or ()), *(n for r in results for n in r.notes))
    if extra_notes:
        model = dataclasses.replace(model, notes=(*model.notes, *extra_notes))
    return model


def model_file(
    path: Path | str,
    *,
    suppressions: Path | str | None = None,
    rule_files: Sequence[Path] = (),
    questionnaires: Sequence[QuestionnaireArg] = (),
    lenient_suppressions: bool = False,
    workspace: Workspace | None = None,
    today: date | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ThreatModel:
    """Load, validate and model a manifest file (the CLI's `threats model`)."""
    rules = load_rules(rule_files) if rule_files else None
    return model_text(
        _read(path, max_bytes),
        source=os.fspath(path),
        rules=rules,
        suppressions=suppressions,
        questionnaires=questionnaires,
        lenient_suppressions=lenient_suppressions,
        workspace=workspace,
        today=today,
        max_bytes=max_bytes,
    )


def stored_suppressions(ws: Workspace, system_id: str) -> tuple[list[Suppression], str | None]:
    """The suppressions of the latest recorded threat model of the system, and its evidence id.

    Recording a model (``threats model --record -s FILE``, :func:`record_model`) stores the
    accepted threats in its evidence; the API and the console apply them from there, so an
    acceptance shows as suppressed, with its owner and expiry, wherever the model is shown.
    """
    from bastion.core.evidence import EvidenceQuery

    latest = ws.evidence.list(
        EvidenceQuery(check_id="threats.model", subject_ref=system_id, limit=1)
    )
    if not latest:
        return [], None
    ev = latest[0]
    out = []
    for raw in ev.data.get("suppressions") or ():
        if isinstance(raw, dict):
            keep = {k: raw.get(k) for k in ("rule", "element", "justification", "owner", "expires")}
            try:
                out.append(Suppression.model_validate(keep))
            except ValidationError:
                continue  # written by this code; a malformed entry is not an acceptance
    return out, ev.id


def system_threats(ws: Workspace, system_id: str, *, today: date | None = None) -> ThreatModel:
    """Model the current manifest of a system stored in the inventory, with its evidence and
    the suppressions of its latest recorded threat model."""
    from bastion.inventory import get_system

    rec = get_system(ws, system_id)
    manifest = SystemManifest.model_validate(rec.manifest)
    sup, evidence_id = stored_suppressions(ws, system_id)
    model = model_threats(
        manifest,
        workspace=ws,
        today=today,
        suppressions=sup,
        source=f"inventory:{system_id}@v{rec.version}",
    )
    if sup and evidence_id:
        note = f"{len(sup)} suppression(s) from recorded threat model evidence {evidence_id}"
        model = dataclasses.replace(model, notes=(note, *model.notes))
    return model


def record_model(
    ws: Workspace,
    model: ThreatModel,
    manifest: SystemManifest | None = None,
    *,
    actor: str = "cli",
    fail_on: Severity = Severity.HIGH,
) -> Evidence:
    """Run the registered check `threats.model` on an already computed model's input.

    The model's questionnaires are recorded first, each as check ``threats.questionnaire``
    about its asset, so later models (the console's, the API's) find that evidence.
    """
    from bastion.core.canonical import canonical_json
    from bastion.core.checks import run_check

    for q in model.questionnaires:
        doc = {k: v for k, v in q.items() if k != "file"}
        digest = "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()
        run_check(
            ws,
            "threats.questionnaire",
            Subject("asset", f"{model.system_id}/{q['asset']}", digest),
            actor=actor,
            params={"result": doc},
        )
    params: dict[str, Any] = {"model": model, "fail_on": fail_on.value}
    if manifest is not None:
        params["manifest"] = manifest
    subject = Subject("system", model.system_id, model.manifest_digest)
    return run_check(ws, "threats.model", subject, actor=actor, params=params)
