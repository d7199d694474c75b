"""The run as people read it: a Markdown or a self-contained HTML report (every value
escaped), a per-family bar chart as SVG, and the JSON document."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core.charts import render_svg
from bastion.robustness.llm._taxonomy import ATLAS_NAMES, OWASP_NAMES
from bastion.robustness.llm.interface import RobustnessError

if TYPE_CHECKING:
    from bastion.robustness.llm._harness import LlmProbeReport

__all__ = ["chart_svg", "to_html", "to_markdown", "to_sarif", "write_report"]


def _name(tag: str) -> str:
    if tag.startswith("owasp-llm:"):
        return OWASP_NAMES.get(tag.rsplit(":", 1)[-1], "")
    return ATLAS_NAMES.get(tag, "")


def chart_svg(report: LlmProbeReport) -> str:
    """Probes run and probes that showed their weakness, per family."""
    from matplotlib.figure import Figure

    fams = report.families()
    names = list(fams)
    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot()
    ys = range(len(names))
    ax.barh(
        [y + 0.2 for y in ys],
        [fams[n]["probes"] for n in names],
        height=0.4,
        color="#9fb6cd",
        label="probes run",
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [fams[n]["found"] for n in names],
        height=0.4,
        color="#b03a2e",
        label="weakness shown",
    )
    ax.set_yticks(list(ys), [n.replace("_", " ") for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("probes")
    ax.set_title(f"LLM probes against {report.target}", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return render_svg(fig, "bastion-llm-probes")


def to_markdown(report: LlmProbeReport) -> str:
    d = report.to_data()
    lines = [
        f"# LLM red-team report: {d['target']}",
        "",
        f"- target kind: {d['target_kind']}; system prompt ours to set: "
        f"{'yes' if d['configurable_system_prompt'] else 'no'}; tool calls read: "
        f"{'yes' if d['supports_tools'] else 'no'}",
        f"- probes run: {d['probes_run']}; weakness shown: {d['found']}; clear: {d['clear']}; "
        f"no usable reply: {d['errors']}; skipped: {d['skipped']}",
        f"- attack success rate: {d['attack_success_rate'] if d['attack_success_rate'] is not None else 'n/a'}"
        + (
            f" (95% Wilson interval {d['attack_success_rate_ci95'][0]}-{d['attack_success_rate_ci95'][1]})"
            if d["attack_success_rate_ci95"]
            else ""
        ),
        f"- seed {d['seed']}, corpus {d['corpus_version']}, sources {', '.join(d['sources'])}, "
        f"{d['cost']['requests']} requests in {d['cost']['wall_seconds']} s",
        "",
        "## Families",
        "",
        "| family | probes | found | clear | errors | skipped | OWASP | ATLAS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fam, c in d["families"].items():
        lines.append(
            f"| {fam} | {c['probes']} | {c['found']} | {c['clear']} | {c['errors']} | "
            f"{c['skipped']} | {', '.join(c['owasp'])} | {', '.join(c['atlas'])} |"
        )
    lines += ["", "## Probes", "", "| probe | family | status | detail |", "|---|---|---|---|"]
    lines += [
        f"| {a['probe']} | {a['family']} | {a['status']} | {a['detail'].replace('|', '/')} |"
        for a in d["attempts"]
    ]
    lines += ["", "## Findings", ""]
    if not d["findings"]:
        lines.append("None.")
    for f in d["findings"]:
        lines += [
            f"### {f['probe']} ({f['family']}, {f['severity']})",
            "",
            f"{f['detail']} (detector `{f['detector']}`, source {f['source']}).",
            f"Taxonomy: {', '.join(f['owasp'] + f['atlas'])}.",
            "",
            "Prompt excerpt:",
            "",
            "```text",
            f["prompt_excerpt"].replace("```", "'''"),
            "```",
            "",
            "Reply excerpt (secrets masked):",
            "",
            "```text",
            f["reply_excerpt"].replace("```", "'''"),
            "```",
            "",
        ]
        if f["judge"] is not None:
            lines += [
                f"Judge: {'vulnerable' if f['judge']['vulnerable'] else 'not vulnerable'} - {f['judge']['reason']}",
                "",
            ]
    if d["notes"]:
        lines += ["## Notes", "", *(f"- {n}" for n in d["notes"])]
    return "\n".join(lines) + "\n"


def _e(v: object) -> str:
    return html.escape(str(v), quote=True)


def to_html(report: LlmProbeReport) -> str:
    """A self-contained page; the chart is inlined and every model output is escaped
    (the report must not run what the target emitted)."""
    d = report.to_data()
    rows = "".join(
        f"<tr><td>{_e(f)}</td><td>{c['probes']}</td><td>{c['found']}</td><td>{c['clear']}</td>"
        f"<td>{c['errors']}</td><td>{c['skipped']}</td>"
        f"<td>{_e(', '.join(c['owasp']))}</td><td>{_e(', '.join(c['atlas']))}</td></tr>"
        for f, c in d["families"].items()
    )
    findings = (
        "".join(
            f"<section class='finding'><h3>{_e(f['probe'])} <small>{_e(f['family'])}, {_e(f['severity'])}</small></h3>"
            f"<p>{_e(f['detail'])} (detector <code>{_e(f['detector'])}</code>, source {_e(f['source'])})</p>"
            f"<p>{' '.join(f'<span title={chr(34)}{_e(_name(t))}{chr(34)}>{_e(t)}</span>' for t in f['owasp'] + f['atlas'])}</p>"
            f"<h4>Prompt</h4><pre>{_e(f['prompt_excerpt'])}</pre><h4>Reply (secrets masked)</h4><pre>{_e(f['reply_excerpt'])}</pre></section>"
            for f in d["findings"]
        )
        or "<p>None.</p>"
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in d["notes"])
    attempts = "".join(
        f"<tr><td>{_e(a['probe'])}</td><td>{_e(a['family'])}</td><td>{_e(a['status'])}</td>"
        f"<td>{_e(a['detail'])}</td></tr>"
        for a in d["attempts"]
    )
    svg = chart_svg(report)
    svg = svg[svg.find("<svg") :]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>LLM red-team report: {_e(d['target'])}</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25rem .5rem}pre{background:#f5f5f5;padding:.5rem;white-space:pre-wrap}"
        "span{display:inline-block;background:#eef;margin:.1rem;padding:0 .3rem}</style></head><body>"
        f"<h1>LLM red-team report</h1><p>Target <code>{_e(d['target'])}</code> ({_e(d['target_kind'])}); "
        f"{d['probes_run']} probes, <strong>{d['found']} showed their weakness</strong>, {d['clear']} clear, "
        f"{d['errors']} without a usable reply, {d['skipped']} skipped; seed {_e(d['seed'])}; "
        f"{d['cost']['requests']} requests in {d['cost']['wall_seconds']} s.</p>"
        f"{svg}<h2>Families</h2><table><tr><th>family</th><th>probes</th><th>found</th><th>clear</th>"
        f"<th>errors</th><th>skipped</th><th>OWASP LLM 2025</th><th>ATLAS</th></tr>{rows}</table>"
        "<h2>Probes</h2><table><tr><th>probe</th><th>family</th><th>status</th><th>detail</th></tr>"
        f"{attempts}</table><h2>Findings</h2>{findings}"
        + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
        + "</body></html>\n"
    )


_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}


def to_sarif(report: LlmProbeReport) -> dict[str, Any]:
    """The findings as a SARIF 2.1.0 log: one rule per family and detector, one result
    per finding (located at the probe, the target as the artifact), taxonomy ids and
    masked excerpts in the properties."""
    from bastion import __version__
    from bastion.robustness.llm._taxonomy import FAMILIES

    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for f in report.findings:
        rule_id = f"robustness.llm.{f.family.value}.{f.detector}"
        if rule_id not in rules:
            info = FAMILIES[f.family]
            rules[rule_id] = {
                "id": rule_id,
                "name": f"{f.family.value}/{f.detector}",
                "shortDescription": {"text": info.title},
                "help": {"text": info.remediation},
                "properties": {"tags": [*f.owasp, *f.atlas], "security-severity": {
                    "critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"
                }.get(f.severity, "8.0")},
            }  # fmt: skip
        results.append(
            {
                "ruleId": rule_id,
                "level": _LEVEL.get(f.severity, "error"),
                "message": {"text": f"{f.probe}: {f.detail}"},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": report.target}},
                        "logicalLocations": [{"name": f.probe, "kind": "probe"}],
                    }
                ],
                "properties": {
                    "owasp": list(f.owasp),
                    "atlas": list(f.atlas),
                    "source": f.source,
                    "prompt_excerpt": f.prompt_excerpt,
                    "reply_excerpt": f.reply_excerpt,
                },
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "bastion-llm-probes",
                        "version": __version__,
                        "informationUri": "https://github.com/bastion/bastion",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                "properties": {"probes_run": len(report.attempts), "seed": report.seed},
            }
        ],
    }


def write_report(report: LlmProbeReport, path: Path) -> None:
    """Write the report in the format the suffix names: .json, .md, .html or .sarif."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(report.to_data(), indent=2) + "\n"
    elif suffix == ".sarif":
        text = json.dumps(to_sarif(report), indent=2) + "\n"
    elif suffix in (".md", ".markdown"):
        text = to_markdown(report)
    elif suffix in (".html", ".htm"):
        text = to_html(report)
    else:
        raise RobustnessError(f"report {path.name}: expected a .json, .md, .html or .sarif name")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RobustnessError(f"report {path}: cannot write ({exc.strerror})") from None
