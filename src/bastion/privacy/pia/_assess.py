"""The assessment: prefill, merge the person's answers, score the risks, render
Markdown / HTML, record ``privacy.pia`` evidence about the manifest's digest."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from bastion.core.checks import record_evidence
from bastion.core.documents import load_document
from bastion.core.errors import InputError
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.manifest import SystemManifest, load_manifest
from bastion.privacy.pia._checks import PiaCheck, PiaData
from bastion.privacy.pia._prefill import prefill
from bastion.privacy.pia._template import Question, Template, default_template

__all__ = [
    "Answers",
    "Assessment",
    "Row",
    "assess",
    "questionnaire",
    "render_html",
    "render_markdown",
]

MAX_ANSWERS_BYTES = 256 * 1024
HIGH, MEDIUM = 15, 8


class _Attestor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=2, max_length=200)
    role: str = Field(min_length=2, max_length=100)
    date: str | None = Field(None, max_length=40)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    answer: str | bool | list[str] | None = None
    note: str | None = Field(None, max_length=2000)


class Answers(BaseModel):
    """The file a person completes: answers by question id, and who attests them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    system: str | None = Field(None, max_length=200)
    attested_by: _Attestor | None = None
    answers: dict[str, _Answer | str | bool | list[str] | None] = Field(default_factory=dict)


def _norm(q: Question, v: Any) -> Any:
    if isinstance(v, _Answer):
        v = v.answer
    if v is None:
        return None
    if q.kind == "yes_no":
        if isinstance(v, bool):
            return "yes" if v else "no"
        if str(v).strip().lower() in ("yes", "no"):
            return str(v).strip().lower()
        raise InputError(f"answers.{q.id}: expected yes or no")
    if q.kind == "list":
        return [str(x)[:300] for x in v] if isinstance(v, list) else [str(v)[:300]]
    text = str(v).strip()
    return text or None


@dataclass(frozen=True)
class Row:
    section: str
    question: Question
    answer: Any
    source: str  # evidence | manifest | attested | unanswered
    basis: str
    evidence_id: str | None
    note: str | None


@dataclass(frozen=True)
class Assessment:
    system: SystemManifest
    template: Template
    rows: tuple[Row, ...]
    risks: tuple[dict[str, Any], ...]
    open_actions: tuple[str, ...]
    level: str
    score: int
    attested_by: str | None
    attested_role: str | None
    manifest_digest: str
    answers_digest: str | None
    generated_at: datetime
    evidence: Evidence | None = None

    @property
    def verdict(self) -> Verdict:
        if self.level == "high" or self.attested_by is None:
            return Verdict.FAIL
        return Verdict.WARN if self.open_actions or self.level == "medium" else Verdict.PASS

    def data(self) -> PiaData:
        titles = {sec.id: sec.title for sec in self.template.sections}
        return PiaData(
            system=self.system.system.id, template=self.template.name,
            template_digest=self.template.digest(), manifest_digest=self.manifest_digest,
            answers_digest=self.answers_digest, attested_by=self.attested_by,
            attested_role=self.attested_role, level=self.level, score=self.score,
            total=sum(int(r["score"]) for r in self.risks), risks=self.risks,
            open_actions=self.open_actions,
            answered=sum(1 for r in self.rows if r.answer not in (None, [], "")),
            prefilled=sum(1 for r in self.rows if r.source in ("evidence", "manifest")),
            questions=len(self.rows),
            rows=tuple(
                {"section": titles.get(r.section, r.section), "id": r.question.id,
                 "question": r.question.text, "answer": _fmt(r.answer), "basis": r.basis,
                 "evidence_id": r.evidence_id, "note": r.note}
                for r in self.rows
            ),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = self.data().model_dump(mode="json")
        d["verdict"] = self.verdict.value
        d["answers"] = [{"id": r.question.id, "section": r.section, "answer": r.answer,
                         "source": r.source, "basis": r.basis, "evidence_id": r.evidence_id,
                         "note": r.note} for r in self.rows]  # fmt: skip
        if self.evidence is not None:
            d["evidence_id"] = self.evidence.id
        return d


def _read_manifest(path: Path) -> tuple[SystemManifest, str]:
    m = load_manifest(path)
    return m, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def questionnaire(ws: Workspace | None, manifest: Path, template: Template | None = None) -> str:
    """The answers file to complete, as YAML: prefilled answers with their basis in a
    comment, the rest empty for the person who attests."""
    t = template or default_template()
    m, _ = _read_manifest(manifest)
    lines = [
        f"# Privacy impact assessment of {m.system.id} ({t.name}); generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "# Prefilled answers come from the manifest and the evidence; change one only with",
        "# a note saying why. Fill in the empty ones, name who attests, then run",
        f"#   bastion data pia report --manifest {manifest.name} --answers THIS_FILE",
        f"system: {m.system.id}",
        "attested_by:  # who attests the answers, e.g. {name: Dana Meyer, role: DPO}",
        "answers:",
    ]
    for s in t.sections:
        lines.append(f"  # --- {s.title}")
        for q in s.questions:
            lines.append(f"  # {q.text}")
            if q.prefill:
                p = prefill(ws, m, q.prefill)
                lines.append(f"  #   from {p.basis}" + (f"; {p.action}" if p.action else ""))
                value = p.answer
            else:
                value = None
            dumped = yaml.safe_dump({q.id: value}, default_flow_style=True, width=1000).strip()
            lines.append("  " + dumped[1:-1].strip())
    return "\n".join(lines) + "\n"


def _parse_answers(path: Path) -> tuple[Answers, str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path.name}: no such answers file") from None
    a = load_document(raw, Answers, what=path.name, max_bytes=MAX_ANSWERS_BYTES)
    return a, "sha256:" + hashlib.sha256(raw).hexdigest()


def _triggered(q: Question, answer: Any) -> bool:
    assert q.risk is not None
    if q.risk.when == "empty":
        return answer in (None, "", [])
    return answer is None or answer == q.risk.when  # unknown counts as the risky answer


def assess(
    ws: Workspace | None,
    manifest: Path,
    answers: Path | None = None,
    *,
    template: Template | None = None,
    actor: str = "cli",
    record: bool = True,
) -> Assessment:
    """Prefill, merge ``answers``, score; with ``ws`` and ``record``, store ``privacy.pia``."""
    t = template or default_template()
    m, mdigest = _read_manifest(manifest)
    given, adigest = _parse_answers(answers) if answers is not None else (Answers(), None)
    ids = {q.id: q for q in t.questions()}
    unknown = [k for k in given.answers if k not in ids]
    if unknown:
        raise InputError(f"answers.{unknown[0][:64]}: no such question in {t.name}")
    if given.system is not None and given.system != m.system.id:
        raise InputError(f"answers: for system {given.system!r}, not {m.system.id!r}")
    rows: list[Row] = []
    actions: list[str] = []
    for s in t.sections:
        for q in s.questions:
            p = prefill(ws, m, q.prefill) if q.prefill else None
            raw = given.answers.get(q.id)
            note = raw.note if isinstance(raw, _Answer) else None
            mine = _norm(q, raw)
            if mine is not None:
                basis = "attested"
                if p is not None and p.answer is not None and p.answer != mine:
                    basis = f"attested, overriding {p.basis}"
                rows.append(Row(s.id, q, mine, "attested", basis, None, note))
            elif p is not None and p.answer is not None:
                src = "manifest" if q.prefill and q.prefill.startswith("manifest.") else "evidence"
                rows.append(Row(s.id, q, p.answer, src, p.basis, p.evidence_id, None))
            else:
                rows.append(Row(s.id, q, None, "unanswered", p.basis if p else "to attest",
                                None, None))  # fmt: skip
                if q.required_if is None or all(
                    _answer_of(rows, k) == v for k, v in q.required_if.items()
                ):
                    actions.append(f"{q.id}: " + (p.action if p and p.action else
                                                  f"answer and attest: {q.text}"))  # fmt: skip
    if given.attested_by is None:
        actions.append("attested_by: a named person must attest the answers")
    risks: list[dict[str, Any]] = []
    for r in rows:
        q = r.question
        if q.risk is not None and _triggered(q, r.answer):
            risks.append({"question": q.id, "title": q.risk.title,
                          "likelihood": q.risk.likelihood, "impact": q.risk.impact,
                          "score": q.risk.likelihood * q.risk.impact,
                          "treatment": q.risk.treatment,
                          "because": "unanswered" if r.answer is None else f"answer {r.answer}"})  # fmt: skip
    risks.sort(key=lambda x: (-int(x["score"]), str(x["question"])))
    score = max((int(x["score"]) for x in risks), default=0)
    level = "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"
    a = Assessment(
        m, t, tuple(rows), tuple(risks), tuple(actions), level, score,
        given.attested_by.name if given.attested_by else None,
        given.attested_by.role if given.attested_by else None,
        mdigest, adigest, datetime.now(UTC),
    )  # fmt: skip
    if ws is None or not record:
        return a
    findings = tuple(
        Finding(f"privacy.pia.{x['question']}", str(x["title"]),
                Severity.HIGH if int(x["score"]) >= HIGH else
                Severity.MEDIUM if int(x["score"]) >= MEDIUM else Severity.LOW,
                f"likelihood {x['likelihood']} x impact {x['impact']} = {x['score']} "
                f"({x['because']})", remediation=str(x["treatment"]))
        for x in risks
    )  # fmt: skip
    ev = record_evidence(ws, PiaCheck, Subject("system", m.system.id, mdigest),
                         verdict=a.verdict, data=a.data(), findings=findings, actor=actor)  # fmt: skip
    return dataclasses.replace(a, evidence=ev)


def _answer_of(rows: list[Row], qid: str) -> Any:
    return next((r.answer for r in rows if r.question.id == qid), None)


def _fmt(v: Any) -> str:
    if v is None:
        return "(unanswered)"
    if isinstance(v, list):
        return "; ".join(str(x) for x in v) or "(none)"
    return str(v)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(a: Assessment) -> str:
    s = a.system.system
    out = [
        f"# Privacy impact assessment: {_md(s.name)}",
        "",
        f"- System: `{s.id}` (owner {_md(s.owner)}); purpose: {_md(s.purpose)}",
        f"- Generated: {a.generated_at:%Y-%m-%d %H:%M} UTC; template `{a.template.name}`",
        f"- Attested by: {_md(a.attested_by) + ' (' + _md(a.attested_role or '') + ')' if a.attested_by else '**nobody yet**'}",
        f"- **Risk level: {a.level.upper()}** (highest score {a.score} of 25; verdict {a.verdict.value})",
        "",
        "## Identified risks",
        "",
    ]  # fmt: skip
    if a.risks:
        out += ["| risk | likelihood | impact | score | treatment | question |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        out += [f"| {_md(str(r['title']))} | {r['likelihood']} | {r['impact']} | {r['score']} | "
                f"{_md(str(r['treatment']))} | `{r['question']}` ({_md(str(r['because']))}) |"
                for r in a.risks]  # fmt: skip
    else:
        out.append("None identified.")
    out += ["", "## Open actions", ""]
    out += [f"- [ ] {_md(x)}" for x in a.open_actions] or ["None."]
    for sec in a.template.sections:
        out += ["", f"## {_md(sec.title)}", "", "| question | answer | source |", "|---|---|---|"]
        for r in a.rows:
            if r.section == sec.id:
                src = _md(r.basis) + (f" (evidence `{r.evidence_id}`)" if r.evidence_id else "")
                note = f" Note: {_md(r.note)}" if r.note else ""
                out.append(f"| {_md(r.question.text)} | {_md(_fmt(r.answer))}{note} | {src} |")
    if a.evidence is not None:
        out += ["", f"Recorded as `privacy.pia` evidence `{a.evidence.id}` "
                f"(ledger entry {a.evidence.ledger_seq})."]  # fmt: skip
    return "\n".join(out) + "\n"


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PIA: {{ s.name }}</title>
<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;color:#222}
table{border-collapse:collapse;width:100%;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#f0f2f5}.high{color:#a61b1b}.medium{color:#a86400}
.low{color:#1d6b2f}</style></head><body>
<h1>Privacy impact assessment: {{ s.name }}</h1>
<p>System <code>{{ s.id }}</code> (owner {{ s.owner }}). {{ s.purpose }}</p>
<p>Generated {{ a.generated_at.strftime("%Y-%m-%d %H:%M") }} UTC, template <code>{{ a.template.name }}</code>.
Attested by: {% if a.attested_by %}{{ a.attested_by }} ({{ a.attested_role }}){% else %}<strong>nobody yet</strong>{% endif %}.</p>
<p class="{{ a.level }}"><strong>Risk level: {{ a.level|upper }}</strong> (highest score {{ a.score }} of 25; verdict {{ a.verdict.value }})</p>
<h2>Identified risks</h2>
{% if a.risks %}<table><tr><th>risk</th><th>likelihood</th><th>impact</th><th>score</th><th>treatment</th><th>question</th></tr>
{% for r in a.risks %}<tr><td>{{ r.title }}</td><td>{{ r.likelihood }}</td><td>{{ r.impact }}</td><td>{{ r.score }}</td><td>{{ r.treatment }}</td><td><code>{{ r.question }}</code> ({{ r.because }})</td></tr>
{% endfor %}</table>{% else %}<p>None identified.</p>{% endif %}
<h2>Open actions</h2>
{% if a.open_actions %}<ul>{% for x in a.open_actions %}<li>{{ x }}</li>{% endfor %}</ul>{% else %}<p>None.</p>{% endif %}
{% for sec in a.template.sections %}<h2>{{ sec.title }}</h2>
<table><tr><th>question</th><th>answer</th><th>source</th></tr>
{% for r in a.rows if r.section == sec.id %}<tr><td>{{ r.question.text }}</td><td>{{ fmt(r.answer) }}{% if r.note %}<br><em>{{ r.note }}</em>{% endif %}</td><td>{{ r.basis }}{% if r.evidence_id %} (evidence <code>{{ r.evidence_id }}</code>){% endif %}</td></tr>
{% endfor %}</table>{% endfor %}
{% if a.evidence %}<p>Recorded as <code>privacy.pia</code> evidence <code>{{ a.evidence.id }}</code> (ledger entry {{ a.evidence.ledger_seq }}).</p>{% endif %}
</body></html>
"""


def render_html(a: Assessment) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_HTML).render(a=a, s=a.system.system, fmt=_fmt)
