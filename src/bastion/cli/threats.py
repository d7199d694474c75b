"""`bastion threats` commands. Thin: each command calls one public function of the room."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bastion.cli._common import Format, FormatOpt, err, out, print_json, print_table, settings
from bastion.core.types import Severity

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace
    from bastion.threats import ThreatModel

app = typer.Typer(
    help="Threat modeling: data-flow graph, STRIDE and ATLAS rules, diagrams, CI gates.",
    no_args_is_help=True,
)


class FindingsFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


class DiagramFormat(enum.StrEnum):
    DOT = "dot"
    SVG = "svg"
    MERMAID = "mermaid"


class ReportFormat(enum.StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"


SuppressOpt = typer.Option(
    None, "--suppressions", "-s", help="YAML file of accepted threats (rule, element, expiry)."
)
RulesOpt = typer.Option(None, "--rules", help="Extra rule file(s) to load with the catalog.")
QuestionnaireOpt = typer.Option(
    None,
    "--questionnaire",
    "-q",
    help="Third-party questionnaire ASSET=FILE (or FILE naming its asset); repeatable. "
    "Its TP-* findings join the model; its verdict is evidence of threats.questionnaire.",
)
RecordOpt = typer.Option(
    False, "--record", help="Run as check threats.model: evidence and ledger entry."
)
SourceRootOpt = typer.Option(
    None,
    "--source-root",
    exists=True,
    file_okay=False,
    dir_okay=True,
    help="With --format sarif: the directory %SRCROOT% stands for (default: the manifest's "
    "git top level, else its directory).",
)


def _model(
    manifest: Path,
    suppressions: Path | None = None,
    rules: list[Path] | None = None,
    questionnaires: list[str] | None = None,
    ws: Workspace | None = None,
) -> ThreatModel:
    from bastion.threats import model_file, parse_questionnaire_arg

    return model_file(
        manifest,
        suppressions=suppressions,
        rule_files=rules or [],
        questionnaires=[parse_questionnaire_arg(q) for q in questionnaires or []],
        workspace=ws,
        max_bytes=settings().max_manifest_bytes,
    )


def _recorded(
    manifest: Path,
    suppressions: Path | None,
    rules: list[Path] | None,
    questionnaires: list[str] | None,
    fail_on: Severity = Severity.HIGH,
) -> tuple[ThreatModel, str]:
    """Model with the workspace's evidence and record the run (check threats.model)."""
    from bastion.cli._common import workspace
    from bastion.threats import record_model

    with workspace() as ws:
        model = _model(manifest, suppressions, rules, questionnaires, ws)
        ev = record_model(ws, model, actor="cli", fail_on=fail_on)
    return model, ev.id


def _print_findings(model: ThreatModel, title: str) -> None:
    rows = [
        (f.severity.value, f.status.value, f.rule.id, f.element_id, f.rule.title, f.mitigation)
        for f in model.findings
    ]
    print_table(title, ["severity", "status", "rule", "element", "threat", "mitigation"], rows)
    s = model.summary()
    out.print(
        f"{s['findings']} findings on {s['elements']} elements ({s['per_element']}/element): "
        f"{s['by_status']['open']} open, {s['by_status']['mitigated']} mitigated, "
        f"{s['by_status']['suppressed']} suppressed",
        highlight=False,
    )
    for n in model.notes:
        err.print(f"note: {n}", highlight=False, markup=False)


@app.command("model")
def model_cmd(
    manifest: Path,
    format: FindingsFormat = typer.Option(FindingsFormat.TABLE, "--format", "-f"),
    suppressions: Path | None = SuppressOpt,
    rules: list[Path] | None = RulesOpt,
    questionnaire: list[str] | None = QuestionnaireOpt,
    record: bool = RecordOpt,
    source_root: Path | None = SourceRootOpt,
) -> None:
    """Threat-model a system manifest: every finding with why it applies and its mitigation."""
    from bastion.threats import to_sarif

    evidence_id = None
    if record:
        model, evidence_id = _recorded(manifest, suppressions, rules, questionnaire)
    else:
        model = _model(manifest, suppressions, rules, questionnaire)
    if format is FindingsFormat.SARIF:
        print_json(to_sarif(model, str(manifest), source_root=source_root))
    elif format is FindingsFormat.JSON:
        print_json(model.to_dict() | ({"evidence_id": evidence_id} if evidence_id else {}))
    else:
        _print_findings(model, f"Threats of {model.system_id}")
        if evidence_id:
            out.print(f"recorded as evidence {evidence_id} (check threats.model)", highlight=False)


@app.command("check")
def check_cmd(
    manifest: Path,
    fail_on: Severity = typer.Option(Severity.HIGH, "--fail-on", help="Lowest failing severity."),
    suppressions: Path | None = SuppressOpt,
    rules: list[Path] | None = RulesOpt,
    questionnaire: list[str] | None = QuestionnaireOpt,
    record: bool = RecordOpt,
    format: FindingsFormat = typer.Option(FindingsFormat.TABLE, "--format", "-f"),
    source_root: Path | None = SourceRootOpt,
) -> None:
    """CI gate: exit 1 while an open, unsuppressed threat at or above --fail-on exists."""
    from bastion.threats import gate, to_sarif

    evidence_id = None
    if record:
        model, evidence_id = _recorded(manifest, suppressions, rules, questionnaire, fail_on)
    else:
        model = _model(manifest, suppressions, rules, questionnaire)
    ok = gate(model, fail_on)
    failing = model.open_at_least(fail_on)
    if format is FindingsFormat.SARIF:
        print_json(to_sarif(model, str(manifest), source_root=source_root))
    elif format is FindingsFormat.JSON:
        print_json(
            {
                "system": model.system_id,
                "fail_on": fail_on.value,
                "passed": ok,
                "failing": [f.to_dict() for f in failing],
                "summary": model.summary(),
            }
            | ({"evidence_id": evidence_id} if evidence_id else {})
        )
    else:
        rows = [(f.severity.value, f.rule.id, f.element_id, f.rule.title) for f in failing]
        if rows:
            print_table(
                f"Open threats at or above {fail_on.value}",
                ["severity", "rule", "element", "threat"],
                rows,
            )
        out.print(
            f"{'PASS' if ok else 'FAIL'}: {len(failing)} open threat(s) at or above {fail_on.value}",
            highlight=False,
        )
        if evidence_id:
            out.print(f"recorded as evidence {evidence_id} (check threats.model)", highlight=False)
        for n in model.notes:
            err.print(f"note: {n}", highlight=False, markup=False)
    raise typer.Exit(0 if ok else 1)


@app.command("diagram")
def diagram_cmd(
    manifest: Path,
    format: DiagramFormat = typer.Option(DiagramFormat.DOT, "--format", "-f"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
    suppressions: Path | None = SuppressOpt,
) -> None:
    """Data-flow diagram: trust boundaries as clusters, open threat counts per element."""
    from bastion.threats import render_dot, render_mermaid, render_svg

    model = _model(manifest, suppressions)
    render = {
        DiagramFormat.DOT: render_dot,
        DiagramFormat.SVG: render_svg,
        DiagramFormat.MERMAID: render_mermaid,
    }[format]
    _emit(render(model), output)


@app.command("report")
def report_cmd(
    manifest: Path,
    format: ReportFormat = typer.Option(ReportFormat.HTML, "--format", "-f"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
    suppressions: Path | None = SuppressOpt,
) -> None:
    """Threat-model report: diagram, findings and documented threat scenarios."""
    from bastion.threats import render_report, render_svg

    model = _model(manifest, suppressions)
    svg = render_svg(model) if format is ReportFormat.HTML else None
    _emit(render_report(model, format.value, svg=svg), output)


@app.command("navigator")
def navigator_cmd(
    manifest: Path,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
    suppressions: Path | None = SuppressOpt,
) -> None:
    """ATLAS Navigator layer JSON: techniques scored by the number of findings citing them."""
    from bastion.threats import navigator_layer

    _emit(json.dumps(navigator_layer(_model(manifest, suppressions)), indent=2) + "\n", output)


@app.command("diff")
def diff_cmd(
    old: Path,
    new: Path,
    format: Format = FormatOpt,
    fail_on: Severity | None = typer.Option(
        None, "--fail-on", help="Exit 1 if the change adds an open threat at or above this."
    ),
    suppressions: Path | None = SuppressOpt,
    old_suppressions: Path | None = typer.Option(
        None,
        "--old-suppressions",
        help="Suppressions of the OLD version (default: --suppressions, applied to both).",
    ),
    questionnaire: list[str] | None = QuestionnaireOpt,
) -> None:
    """New, removed and changed threats between two versions of a manifest.

    The suppressions apply to both versions, so an accepted threat that merely persists
    is unchanged, not "newly suppressed"; an element a suppression names that the old
    version lacks is skipped there with a note.
    """
    from bastion.threats import diff_models

    old_m = _model_lenient(old, old_suppressions or suppressions, questionnaire)
    new_m = _model(new, suppressions, None, questionnaire)
    d = diff_models(old_m, new_m)
    if format is Format.JSON:
        print_json(d.to_dict())
    else:
        rows = [("added", f.severity.value, f.status.value, f.id, f.rule.title) for f in d.added]
        rows += [
            ("removed", f.severity.value, f.status.value, f.id, f.rule.title) for f in d.removed
        ]
        rows += [
            (
                "changed",
                n.severity.value,
                f"{o.status.value} -> {n.status.value}",
                n.id,
                n.rule.title,
            )
            for o, n in d.changed
        ]
        print_table("Threat diff", ["change", "severity", "status", "finding", "threat"], rows)
        out.print(
            f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed, "
            f"{d.unchanged} unchanged",
            highlight=False,
        )
    for n in (*old_m.notes, *new_m.notes):
        err.print(f"note: {n}", highlight=False, markup=False)
    if fail_on is not None and d.new_open_at_least(fail_on):
        raise typer.Exit(1)


@app.command("rules")
def rules_cmd(
    format: Format = FormatOpt,
    rules: list[Path] | None = RulesOpt,
) -> None:
    """The rule catalog, generated from rule metadata."""
    from bastion.threats import load_rules, rule_catalog

    cat = rule_catalog(load_rules(rules or []))
    if format is Format.JSON:
        print_json(cat)
        return
    rows = [
        (
            r["id"],
            r["severity"],
            "".join(s[0].upper() if s != "elevation_of_privilege" else "E" for s in r["stride"]),
            r["element"] + (": " + ", ".join(r["kinds"]) if r["kinds"] else ""),
            ", ".join(a["id"] for a in r["atlas"]),
            ", ".join(r["owasp"]),
            r["title"],
        )
        for r in cat
    ]
    print_table(
        "Threat rules", ["id", "severity", "STRIDE", "applies to", "ATLAS", "OWASP", "title"], rows
    )


@app.command("questionnaire")
def questionnaire_cmd(
    file: Path,
    asset: str | None = typer.Option(
        None, "--asset", help="The third-party asset the answers are about (default: the file's)."
    ),
    manifest: Path | None = typer.Option(
        None, "--manifest", "-m", help="System manifest: checks the asset and jurisdictions."
    ),
    format: Format = FormatOpt,
    fail_on: Severity | None = typer.Option(
        None, "--fail-on", help="Exit 1 on open findings at or above."
    ),
) -> None:
    """Score a third-party model/API questionnaire into findings attached to the asset."""
    from bastion.core.errors import InputError
    from bastion.manifest import load_manifest
    from bastion.threats import load_questionnaire, score_questionnaire

    m = load_manifest(manifest, max_bytes=settings().max_manifest_bytes) if manifest else None
    q = load_questionnaire(file)
    target = asset or q.asset
    if target is None:
        raise InputError(f"{file}: the questionnaire names no asset; fix: pass --asset ID")
    res = score_questionnaire(q, target, m)
    if format is Format.JSON:
        print_json(res.to_dict())
    else:
        rows = [
            (f.severity.value, f.status.value, f.rule.id, f.rule.title, f.mitigation)
            for f in res.findings
        ]
        print_table(
            f"{res.vendor}: {res.service}",
            ["severity", "status", "rule", "question", "answer"],
            rows,
        )
        out.print(f"score {res.score}/100 for asset {target}", highlight=False)
        for n in res.notes:
            err.print(f"note: {n}", highlight=False, markup=False)
    if fail_on is not None and any(f.open and f.severity.at_least(fail_on) for f in res.findings):
        raise typer.Exit(1)


def _model_lenient(
    manifest: Path, suppressions: Path | None, questionnaires: list[str] | None
) -> ThreatModel:
    """The old side of a diff: the suppressions file is written for the new version, so
    entries naming an element the old version does not have are left out, not refused."""
    from bastion.threats import model_file, parse_questionnaire_arg

    return model_file(
        manifest,
        suppressions=suppressions,
        questionnaires=[parse_questionnaire_arg(q) for q in questionnaires or []],
        lenient_suppressions=True,
        max_bytes=settings().max_manifest_bytes,
    )


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", highlight=False, markup=False)
