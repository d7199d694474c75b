"""Public entry points: model a file, a stored system, record a run as evidence."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core.errors import InputError
from bastion.core.types import Evidence, Severity, Subject
from bastion.manifest import DEFAULT_MAX_BYTES, SystemManifest, parse_manifest
from bastion.threats._model import ThreatModel, load_suppressions, model_threats
from bastion.threats._outputs import element_lines
from bastion.threats._rules import RuleSet, load_rules

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = ["model_file", "model_text", "record_model", "system_threats"]


def _read(path: Path | str, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read manifest ({exc.strerror})") from None
    if len(raw) > max_bytes:
        raise InputError(f"{path}: manifest is larger than {max_bytes} bytes")
    return raw


def model_text(
    text: str | bytes,
    *,
    source: str = "<string>",
    rules: RuleSet | None = None,
    suppressions: Path | str | None = None,
    workspace: Workspace | None = None,
    today: date | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ThreatModel:
    """Model manifest text; findings carry the manifest line of their element."""
    manifest = parse_manifest(text, source, max_bytes=max_bytes)
    decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    sup = load_suppressions(suppressions, manifest, rules) if suppressions is not None else []
    return model_threats(
        manifest,
        rules=rules,
        suppressions=sup,
        workspace=workspace,
        today=today,
        source=source,
        lines=element_lines(decoded),
    )


def model_file(
    path: Path | str,
    *,
    suppressions: Path | str | None = None,
    rule_files: Sequence[Path] = (),
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
        workspace=workspace,
        today=today,
        max_bytes=max_bytes,
    )


def system_threats(ws: Workspace, system_id: str, *, today: date | None = None) -> ThreatModel:
    """Model the current manifest of a system stored in the inventory, with its evidence."""
    from bastion.inventory import get_system

    rec = get_system(ws, system_id)
    manifest = SystemManifest.model_validate(rec.manifest)
    return model_threats(
        manifest, workspace=ws, today=today, source=f"inventory:{system_id}@v{rec.version}"
    )


def record_model(
    ws: Workspace,
    model: ThreatModel,
    manifest: SystemManifest | None = None,
    *,
    actor: str = "cli",
    fail_on: Severity = Severity.HIGH,
) -> Evidence:
    """Run the registered check `threats.model` on an already computed model's input."""
    from bastion.core.checks import run_check

    params: dict[str, Any] = {"model": model, "fail_on": fail_on.value}
    if manifest is not None:
        params["manifest"] = manifest
    subject = Subject("system", model.system_id, model.manifest_digest)
    return run_check(ws, "threats.model", subject, actor=actor, params=params)
