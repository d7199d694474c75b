"""Outputs of a threat model: SARIF 2.1.0, Graphviz DOT/SVG, Mermaid, ATLAS Navigator
layer, HTML/Markdown report, and the rule catalog."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from bastion.core.errors import BastionError, InputError
from bastion.core.sarif import SRCROOT, SarifRoot, default_source_root
from bastion.core.types import Severity
from bastion.manifest import AssetKind
from bastion.threats._atlas import AtlasTactic, load_atlas
from bastion.threats._model import Status, ThreatFinding, ThreatModel
from bastion.threats._rules import Rule, RuleSet
from bastion.threats._scenarios import load_scenarios

__all__ = [
    "MAX_DOT_BYTES",
    "DiagramError",
    "element_lines",
    "navigator_layer",
    "render_dot",
    "render_mermaid",
    "render_report",
    "render_svg",
    "rule_catalog",
    "to_sarif",
]

MAX_DOT_BYTES = 4 * 1024 * 1024
MAX_SVG_BYTES = 32 * 1024 * 1024
DOT_TIMEOUT_S = 30.0
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


class DiagramError(BastionError):
    """Graphviz is missing, timed out or failed."""

    exit_code = 3
    http_status = 500
    title = "Diagram rendering failed"


def _version() -> str:
    try:
        return metadata.version("bastion")
    except metadata.PackageNotFoundError:
        return "0"


def element_lines(text: str) -> dict[str, int]:
    """Line of each asset and flow ``id:`` in manifest text (1-based), for SARIF regions.

    Reads node marks from the YAML composer of an already validated manifest, so it
    never expands aliases (the loader refused them) and never constructs objects.
    """
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        return {}
    out: dict[str, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, section in root.value:
        if key.value not in ("assets", "flows") or not isinstance(section, yaml.SequenceNode):
            continue
        for item in section.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            for k, v in item.value:
                if k.value == "id" and isinstance(v, yaml.ScalarNode):
                    out[str(v.value)] = k.start_mark.line + 1
    return out


# -- SARIF -----------------------------------------------------------------------------


def _rule_descriptor(r: Rule) -> dict[str, Any]:
    tags = ["security", *(f"STRIDE/{s.value}" for s in r.stride), *r.atlas, *r.owasp, *r.cwe]
    return {
        "id": r.id,
        "name": re.sub(r"[^A-Za-z0-9]+", "", r.title.title()),
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.description},
        "help": {"text": r.remediation, "markdown": f"**Remediation.** {r.remediation}"},
        "defaultConfiguration": {"level": _LEVEL[r.severity]},
        "properties": {
            "tags": tags,
            "security-severity": _SECURITY_SEVERITY[r.severity],
            "stride": [s.value for s in r.stride],
            "atlas": list(r.atlas),
            "owasp": list(r.owasp),
            "nist_ai_100_2": r.nist_ai_100_2.value,
            "cwe": list(r.cwe),
            "element": r.element.value,
        },
    }


def _manifest_location(
    model: ThreatModel, artifact_uri: str | None, source_root: Path | str | None
) -> tuple[dict[str, str], SarifRoot, str | None]:
    """Where the manifest is, relative to ``%SRCROOT%`` when it is a file under the root.

    A manifest that is no file on disk (a request body, an inventory version) is named
    ``system.yaml`` under ``%SRCROOT%``, with no root to resolve it to; its source stays
    in the run's properties.
    """
    source = artifact_uri or model.source
    path = Path(source) if source else None
    try:
        is_file = path is not None and path.is_file()
    except (OSError, ValueError):
        is_file = False
    if path is not None and is_file:
        root = SarifRoot(source_root if source_root is not None else default_source_root(path))
        return root.artifact_location(path), root, None
    return {"uri": "system.yaml", "uriBaseId": SRCROOT}, SarifRoot(source_root), source


def to_sarif(
    model: ThreatModel,
    artifact_uri: str | None = None,
    *,
    source_root: Path | str | None = None,
) -> dict[str, Any]:
    """SARIF 2.1.0: mitigated threats are ``kind: pass``, suppressed ones carry suppressions.

    ``artifact_uri`` is the manifest's path (default: the model's source). Its
    ``artifactLocation`` is relative to ``%SRCROOT%``: ``source_root``, or the manifest's
    git top level, or its directory; ``originalUriBaseIds`` says where that root is.
    """
    used = {f.rule.id for f in model.findings}
    rules = [r for r in model.rules.rules if r.id in used]
    known = {r.id for r in rules}
    extra = {f.rule.id: f.rule for f in model.findings if f.rule.id not in known}
    rules += [extra[k] for k in sorted(extra)]  # questionnaire (TP-*) rules
    index = {r.id: i for i, r in enumerate(rules)}
    artifact, root, not_a_file = _manifest_location(model, artifact_uri, source_root)
    results: list[dict[str, Any]] = []
    for f in model.findings:
        loc: dict[str, Any] = {"artifactLocation": dict(artifact)}
        if f.line is not None:
            loc["region"] = {"startLine": f.line}
        res: dict[str, Any] = {
            "ruleId": f.rule.id,
            "ruleIndex": index[f.rule.id],
            "kind": "pass" if f.status is Status.MITIGATED else "fail",
            "level": "none" if f.status is Status.MITIGATED else _LEVEL[f.severity],
            "message": {
                "text": f"{f.rule.title} on {f.element_id}. Applies because {f.applies_because}. "
                f"{f.mitigation[0].upper()}{f.mitigation[1:]}."
            },
            "locations": [
                {
                    "physicalLocation": loc,
                    "logicalLocations": [
                        {
                            "name": f.element_id,
                            "fullyQualifiedName": f"{model.system_id}/{f.element_id}",
                            "kind": "flow" if f.flow_id else f.element_kind,
                        }
                    ],
                }
            ],
            "partialFingerprints": {"bastionThreatId/v1": f.id},
            "properties": {"status": f.status.value, "severity": f.severity.value},
        }
        if f.suppression is not None:
            res["suppressions"] = [
                {
                    "kind": "external",
                    "status": "rejected" if f.suppression["expired"] else "accepted",
                    "justification": f.suppression["justification"],
                    "properties": {
                        "owner": f.suppression["owner"],
                        "expires": f.suppression["expires"],
                    },
                }
            ]
        results.append(res)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "bastion-threats",
                "version": _version(),
                "informationUri": "https://bastion.dev/docs/threats",
                "rules": [_rule_descriptor(r) for r in rules],
            }
        },
        "automationDetails": {"id": f"bastion-threats/{model.system_id}"},
    }
    if base := root.original_uri_base_ids():
        run["originalUriBaseIds"] = base
    run |= {
        "artifacts": [{"location": dict(artifact)}],
        "results": results,
        "properties": {
            "manifest_digest": model.manifest_digest,
            "rules_digest": model.rules.digest,
        }
        | ({"source": not_a_file} if not_a_file else {}),
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


# -- diagrams ----------------------------------------------------------------------------

_SHAPE = {
    AssetKind.HUMAN_ACTOR: "box",
    AssetKind.EXTERNAL_SERVICE: "box",
    AssetKind.THIRD_PARTY_MODEL_API: "box",
    AssetKind.DATASET: "cylinder",
    AssetKind.DATA_STORE: "cylinder",
    AssetKind.FEATURE_STORE: "cylinder",
    AssetKind.VECTOR_STORE: "cylinder",
}


def _dot_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _dot_label(lines: list[str]) -> str:
    return '"' + "\\n".join(_dot_str(x)[1:-1] for x in lines) + '"'


def _counts(model: ThreatModel) -> Counter[str]:
    return model.counts_by_element(only_open=True)


def render_dot(model: ThreatModel) -> str:
    """Graphviz DOT: boundaries as nested clusters, open-finding counts on each element."""
    g = model.graph
    counts = _counts(model)
    lines = [
        f"digraph {_dot_str(model.system_id)} {{",
        "  graph [rankdir=LR, fontname=Helvetica, fontsize=11, compound=true];",
        "  node [fontname=Helvetica, fontsize=10, style=filled, fillcolor=white];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    children: dict[str | None, list[str]] = {}
    for b in g.boundaries:
        children.setdefault(g.boundary_parent.get(b), []).append(b)
    members: dict[str | None, list[str]] = {}
    for a, path in g.asset_path.items():
        members.setdefault(path[-1] if path else None, []).append(a)

    def node(aid: str, indent: str) -> str:
        a = g.assets[aid]
        n = counts.get(aid, 0)
        label = _dot_label([a.name, f"[{a.kind.value}]"] + ([f"{n} open threat(s)"] if n else []))
        color = "#c0392b" if n else "#2c3e50"
        fill = "#fdecea" if n else "white"
        return (
            f"{indent}{_dot_str(aid)} [label={label}, "
            f"shape={_SHAPE.get(a.kind, 'ellipse')}, color={_dot_str(color)}, "
            f"fillcolor={_dot_str(fill)}];"
        )

    def cluster(bid: str, depth: int) -> None:
        b = g.boundaries[bid]
        ind = "  " * (depth + 1)
        lines.append(f"{ind}subgraph {_dot_str('cluster_' + bid)} {{")
        lines.append(f"{ind}  label={_dot_str(f'{b.name} ({b.kind.value})')};")
        lines.append(f'{ind}  style=dashed; color="#7f8c8d";')
        lines.extend(node(aid, ind + "  ") for aid in members.get(bid, []))
        for child in children.get(bid, []):
            cluster(child, depth + 1)
        lines.append(f"{ind}}}")

    lines.extend(node(aid, "  ") for aid in members.get(None, []))
    for top in children.get(None, []):
        cluster(top, 0)
    for f in g.flows.values():
        n = counts.get(f.id, 0)
        label = f.id + (f" ({n} open)" if n else "")
        crosses = bool(g.crossed[f.id])
        attrs = [f"label={_dot_str(label)}"]
        if crosses:
            attrs.append("penwidth=1.8")
        if n:
            attrs.append('color="#c0392b"')
        lines.append(f"  {_dot_str(f.source)} -> {_dot_str(f.target)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(model: ThreatModel, *, timeout: float = DOT_TIMEOUT_S) -> str:
    """SVG from Graphviz ``dot`` run as a subprocess: bounded input, output and time."""
    dot_src = render_dot(model).encode("utf-8")
    if len(dot_src) > MAX_DOT_BYTES:
        raise InputError(
            f"diagram of {model.system_id} is {len(dot_src)} bytes of DOT, over the "
            f"{MAX_DOT_BYTES} limit; use --format dot and render a part of it"
        )
    exe = shutil.which("dot")
    if exe is None:
        raise DiagramError("Graphviz `dot` is not installed; install graphviz or use --format dot")
    try:
        proc = subprocess.run(
            [exe, "-Tsvg"], input=dot_src, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise DiagramError(f"Graphviz `dot` took longer than {timeout:.0f}s") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiagramError(
            "Graphviz `dot` failed: " + (msg[0] if msg else f"exit {proc.returncode}")
        )
    if len(proc.stdout) > MAX_SVG_BYTES:
        raise DiagramError(f"Graphviz output is larger than {MAX_SVG_BYTES} bytes")
    return proc.stdout.decode("utf-8", "replace")


def _mid(s: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", s)


def _mtext(s: str) -> str:
    return s.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def render_mermaid(model: ThreatModel) -> str:
    """Mermaid flowchart: boundaries as nested subgraphs, open-finding counts on nodes."""
    g = model.graph
    counts = _counts(model)
    out = ["flowchart LR"]
    children: dict[str | None, list[str]] = {}
    for b in g.boundaries:
        children.setdefault(g.boundary_parent.get(b), []).append(b)
    members: dict[str | None, list[str]] = {}
    for a, path in g.asset_path.items():
        members.setdefault(path[-1] if path else None, []).append(a)
    threatened: list[str] = []

    def node(aid: str, ind: str) -> str:
        a = g.assets[aid]
        n = counts.get(aid, 0)
        if n:
            threatened.append(_mid(aid))
        label = _mtext(f"{a.name} [{a.kind.value}]")
        label += f" - {n} open" if n else ""
        open_, close = (
            ("[(", ")]") if a.kind in _SHAPE and _SHAPE[a.kind] == "cylinder" else ("[", "]")
        )
        return f'{ind}{_mid(aid)}{open_}"{label}"{close}'

    def sub(bid: str, depth: int) -> None:
        b = g.boundaries[bid]
        ind = "  " * (depth + 1)
        out.append(f'{ind}subgraph {_mid("b_" + bid)}["{_mtext(b.name)} ({b.kind.value})"]')
        out.extend(node(aid, ind + "  ") for aid in members.get(bid, []))
        for c in children.get(bid, []):
            sub(c, depth + 1)
        out.append(f"{ind}end")

    out.extend(node(aid, "  ") for aid in members.get(None, []))
    for top in children.get(None, []):
        sub(top, 0)
    for f in g.flows.values():
        n = counts.get(f.id, 0)
        arrow = "==>" if g.crossed[f.id] else "-->"
        label = _mtext(f.id + (f" ({n} open)" if n else ""))
        out.append(f'  {_mid(f.source)} {arrow}|"{label}"| {_mid(f.target)}')
    if threatened:
        out.append("  classDef threatened fill:#fdecea,stroke:#c0392b")
        out.append("  class " + ",".join(threatened) + " threatened")
    return "\n".join(out) + "\n"


# -- ATLAS Navigator -------------------------------------------------------------------


def navigator_layer(model: ThreatModel) -> dict[str, Any]:
    """An ATLAS Navigator layer: each technique scored by the findings citing it."""
    atlas = load_atlas()
    total: Counter[str] = Counter()
    open_: Counter[str] = Counter()
    for f in model.findings:
        for t in f.rule.atlas:
            total[t] += 1
            if f.open:
                open_[t] += 1
    techniques = []
    for tid in sorted(total):
        tech = atlas.technique(tid)
        tactics: list[AtlasTactic | None] = list(atlas.tactics_of(tid)) or [None]
        for ta in tactics:
            entry: dict[str, Any] = {
                "techniqueID": tid,
                "score": total[tid],
                "comment": f"{total[tid]} finding(s), {open_[tid]} open: "
                + ", ".join(sorted({f.id for f in model.findings if tid in f.rule.atlas}))[:900],
                "enabled": True,
                "metadata": [{"name": "name", "value": tech.name if tech else tid}],
            }
            if ta is not None:
                entry["tactic"] = ta.shortname
            techniques.append(entry)
    top = max(total.values(), default=1)
    return {
        "name": f"Bastion threat model: {model.system_name}",
        "versions": {"layer": "4.5", "navigator": "4.9.1", "atlas": atlas.atlas_version},
        "domain": "atlas-atlas",
        "description": f"Techniques cited by threat findings of system {model.system_id} "
        f"(manifest {model.manifest_digest}); score = number of findings.",
        "sorting": 3,
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": ["#ffffffff", "#ff6666ff"], "minValue": 0, "maxValue": top},
        "legendItems": [{"label": "findings citing the technique", "color": "#ff6666ff"}],
        "metadata": [
            {"name": "system", "value": model.system_id},
            {"name": "generated_by", "value": f"bastion {_version()}"},
        ],
    }


# -- catalog and report -------------------------------------------------------------


def rule_catalog(rules: RuleSet) -> list[dict[str, Any]]:
    """The catalog, generated from rule metadata (the docs and `threats rules` use it)."""
    out = []
    for r in rules.rules:
        out.append(  # noqa: PERF401 - a long literal reads better in a loop
            {
                "id": r.id,
                "title": r.title,
                "element": r.element.value,
                "kinds": sorted(k.value for k in r.kinds) if r.kinds else None,
                "stride": [s.value for s in r.stride],
                "severity": r.severity.value,
                "description": r.description,
                "atlas": [{"id": t, "name": _technique_name(t)} for t in r.atlas],
                "owasp": list(r.owasp),
                "nist_ai_100_2": r.nist_ai_100_2.value,
                "cwe": list(r.cwe),
                "remediation": r.remediation,
                "controls": list(r.controls),
                "applies_when": r.applies_when.model_dump(by_alias=True, exclude_none=True),
                "mitigated_when": (
                    r.mitigated_when.model_dump(by_alias=True, exclude_none=True)
                    if r.mitigated_when
                    else None
                ),
            }
        )
    return out


def _technique_name(tid: str) -> str:
    t = load_atlas().technique(tid)
    return t.name if t is not None else tid


def _scenarios_for(model: ThreatModel) -> list[tuple[Any, list[ThreatFinding]]]:
    out = []
    for s in load_scenarios():
        hits = [f for f in model.findings if f.rule.id in s.rules]
        out.append((s, hits))
    return out


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_report(model: ThreatModel, fmt: str = "html", *, svg: str | None = None) -> str:
    """A threat-model report: summary, diagram, findings and the documented scenarios."""
    if fmt == "markdown":
        return _markdown(model)
    if fmt == "html":
        return _html(model, svg)
    raise InputError(f"unknown report format {fmt!r}; use html or markdown")


def _markdown(model: ThreatModel) -> str:
    s = model.summary()
    out = [
        f"# Threat model: {model.system_name} (`{model.system_id}`)",
        "",
        f"Manifest `{model.manifest_digest}`, {s['elements']} elements, {s['findings']} findings "
        f"({s['by_status']['open']} open, {s['by_status']['mitigated']} mitigated, "
        f"{s['by_status']['suppressed']} suppressed); rules `{model.rules.digest[:19]}`, "
        f"ATLAS {load_atlas().atlas_version}; evaluated on {model.evaluated_on.isoformat()}.",
        "",
        "## Data-flow diagram",
        "",
        "```mermaid",
        render_mermaid(model).rstrip(),
        "```",
        "",
        "## Findings",
        "",
        "| Severity | Status | Threat | Element | STRIDE | ATLAS | OWASP | Why | Mitigation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in model.findings:
        out.append(  # noqa: PERF401 - a long literal reads better in a loop
            "| "
            + " | ".join(
                _md_escape(x)
                for x in (
                    f.severity.value,
                    f.status.value,
                    f"{f.rule.title} (`{f.rule.id}`)",
                    f.element_id,
                    "".join(st.letter for st in f.rule.stride),
                    ", ".join(f.rule.atlas),
                    ", ".join(f.rule.owasp),
                    f.applies_because,
                    f.mitigation,
                )
            )
            + " |"
        )
    out += ["", "## Threat scenarios", ""]
    for sc, hits in _scenarios_for(model):
        out += [f"### {sc.title}", "", sc.narrative, ""]
        elements = sorted({h.element_id for h in hits})
        out.append(
            "**Applies to:** " + (", ".join(elements) if elements else "no element of this system")
        )
        out += ["", "**Preconditions:**", ""] + [f"- {p}" for p in sc.preconditions]
        out += ["", f"**Impact:** {sc.impact}", "", "**Mitigations:**", ""]
        out += [f"- {m}" for m in sc.mitigations] + [""]
    if model.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in model.notes] + [""]
    return "\n".join(out)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}"
    "table{border-collapse:collapse;width:100%;font-size:.85rem}"
    "td,th{border:1px solid #ccc;padding:.3rem;vertical-align:top;text-align:left}"
    ".open{color:#c0392b;font-weight:600}.mitigated{color:#27ae60}.suppressed{color:#7f8c8d}"
    ".diagram svg{max-width:100%;height:auto}"
)


def _html(model: ThreatModel, svg: str | None) -> str:
    e = html.escape
    s = model.summary()
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>Threat model: {e(model.system_name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Threat model: {e(model.system_name)} <code>{e(model.system_id)}</code></h1>",
        f"<p>Manifest <code>{e(model.manifest_digest)}</code>; {s['elements']} elements; "
        f"{s['findings']} findings: <span class=open>{s['by_status']['open']} open</span>, "
        f"<span class=mitigated>{s['by_status']['mitigated']} mitigated</span>, "
        f"<span class=suppressed>{s['by_status']['suppressed']} suppressed</span>. "
        f"ATLAS {e(load_atlas().atlas_version)}; evaluated on {model.evaluated_on.isoformat()}.</p>",
        "<h2>Data-flow diagram</h2>",
    ]
    if svg is not None:
        body = svg[svg.find("<svg") :] if "<svg" in svg else ""
        parts.append(f"<div class=diagram>{_strip_active(body)}</div>")
    else:
        parts.append(f"<pre class=mermaid>{e(render_mermaid(model))}</pre>")
    parts.append(
        "<h2>Findings</h2><table><tr><th>Severity</th><th>Status</th><th>Threat</th>"
        "<th>Element</th><th>STRIDE</th><th>ATLAS / OWASP / CWE</th><th>Why it applies</th>"
        "<th>Mitigation</th><th>Remediation</th></tr>"
    )
    for f in model.findings:
        refs = ", ".join([*f.rule.atlas, *f.rule.owasp, *f.rule.cwe])
        parts.append(
            f"<tr><td>{e(f.severity.value)}</td><td class={f.status.value}>{e(f.status.value)}</td>"
            f"<td>{e(f.rule.title)}<br><code>{e(f.rule.id)}</code></td><td>{e(f.element_id)}</td>"
            f"<td>{e(', '.join(st.value for st in f.rule.stride))}</td><td>{e(refs)}</td>"
            f"<td>{e(f.applies_because)}</td><td>{e(f.mitigation)}</td>"
            f"<td>{e(f.rule.remediation)}</td></tr>"
        )
    parts.append("</table><h2>Threat scenarios</h2>")
    for sc, hits in _scenarios_for(model):
        elements = sorted({h.element_id for h in hits})
        parts += [
            f"<section id={e(sc.id)}><h3>{e(sc.title)}</h3><p>{e(sc.narrative)}</p>",
            "<p><b>Applies to:</b> "
            + (e(", ".join(elements)) if elements else "no element of this system")
            + "</p><p><b>Preconditions:</b></p><ul>",
            *(f"<li>{e(p)}</li>" for p in sc.preconditions),
            f"</ul><p><b>Impact:</b> {e(sc.impact)}</p><p><b>Mitigations:</b></p><ul>",
            *(f"<li>{e(m)}</li>" for m in sc.mitigations),
            "</ul></section>",
        ]
    if model.notes:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in model.notes) + "</ul>"
        )
    parts.append("</body></html>\n")
    return "".join(parts)


def _strip_active(svg: str) -> str:
    """Graphviz output holds no script, but the SVG is inlined: drop anything active."""
    svg = re.sub(r"<script\b.*?</script\s*>", "", svg, flags=re.I | re.S)
    return re.sub(r"\son[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*')", "", svg, flags=re.I)
