"""Threat modeling: the data-flow graph of a system, declarative STRIDE and AI threat
rules (MITRE ATLAS, OWASP, NIST AI 100-2), suppressions, diagrams, reports, CI gates.

Typical use::

    model = model_file("system.yaml", suppressions="threats-accepted.yaml")
    model.findings            # ThreatFinding: rule, element, status, why, data assets
    gate(model, Severity.HIGH)  # False while an open high/critical threat exists
"""

from bastion.threats import _checks  # noqa: F401 - registers the threats.model check
from bastion.threats._api import (
    QuestionnaireArg,
    model_file,
    model_text,
    parse_questionnaire_arg,
    record_model,
    stored_suppressions,
    system_threats,
)
from bastion.threats._atlas import Atlas, AtlasMitigation, AtlasTactic, AtlasTechnique, load_atlas
from bastion.threats._checks import QuestionnaireCheck, ThreatModelCheck, ThreatModelData
from bastion.threats._graph import DATA_KINDS, ThreatGraph, build_graph
from bastion.threats._model import (
    DataAssetRef,
    Status,
    Suppression,
    ThreatDiff,
    ThreatFinding,
    ThreatModel,
    diff_models,
    gate,
    load_suppressions,
    manifest_digest,
    model_threats,
)
from bastion.threats._outputs import (
    DiagramError,
    element_lines,
    navigator_layer,
    render_dot,
    render_mermaid,
    render_report,
    render_svg,
    rule_catalog,
    to_sarif,
)
from bastion.threats._questionnaire import (
    Questionnaire,
    QuestionnaireResult,
    load_questionnaire,
    parse_questionnaire,
    score_questionnaire,
)
from bastion.threats._rules import (
    Condition,
    ElementType,
    NistClass,
    Rule,
    RuleSet,
    Stride,
    builtin_rules,
    load_rule_file,
    load_rules,
)
from bastion.threats._scenarios import Scenario, load_scenarios

__all__ = [
    "DATA_KINDS",
    "Atlas",
    "AtlasMitigation",
    "AtlasTactic",
    "AtlasTechnique",
    "Condition",
    "DataAssetRef",
    "DiagramError",
    "ElementType",
    "NistClass",
    "Questionnaire",
    "QuestionnaireArg",
    "QuestionnaireCheck",
    "QuestionnaireResult",
    "Rule",
    "RuleSet",
    "Scenario",
    "Status",
    "Stride",
    "Suppression",
    "ThreatDiff",
    "ThreatFinding",
    "ThreatGraph",
    "ThreatModel",
    "ThreatModelCheck",
    "ThreatModelData",
    "build_graph",
    "builtin_rules",
    "diff_models",
    "element_lines",
    "gate",
    "load_atlas",
    "load_questionnaire",
    "load_rule_file",
    "load_rules",
    "load_scenarios",
    "load_suppressions",
    "manifest_digest",
    "model_file",
    "model_text",
    "model_threats",
    "navigator_layer",
    "parse_questionnaire",
    "parse_questionnaire_arg",
    "record_model",
    "render_dot",
    "render_mermaid",
    "render_report",
    "render_svg",
    "rule_catalog",
    "score_questionnaire",
    "stored_suppressions",
    "system_threats",
    "to_sarif",
]
