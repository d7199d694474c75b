"""Privacy impact assessment (issue 9 section 9): a YAML questionnaire prefilled from the
manifest (PII assets and flows, jurisdictions, cross-border hosting, human oversight) and
the privacy evidence (scans, masking, minimization, DP, validation, retention, erasure),
completed and attested by a named person, risks scored likelihood x impact, exported as
Markdown or HTML and recorded as ``privacy.pia`` evidence a gate can require."""

from bastion.privacy.pia._assess import (
    Answers,
    Assessment,
    Row,
    assess,
    questionnaire,
    render_html,
    render_markdown,
)
from bastion.privacy.pia._checks import PiaCheck, PiaData, get_assessment, list_assessments
from bastion.privacy.pia._prefill import Prefill, prefill
from bastion.privacy.pia._template import (
    Question,
    Risk,
    Section,
    Template,
    default_template,
    load_template,
)

__all__ = [
    "Answers",
    "Assessment",
    "PiaCheck",
    "PiaData",
    "Prefill",
    "Question",
    "Risk",
    "Row",
    "Section",
    "Template",
    "assess",
    "default_template",
    "get_assessment",
    "list_assessments",
    "load_template",
    "prefill",
    "questionnaire",
    "render_html",
    "render_markdown",
]
