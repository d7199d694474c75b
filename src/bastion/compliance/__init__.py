"""The compliance room: controls between evidence and gates.

A control (from a catalog; today Bastion's internal one) says which evidence satisfies it,
how fresh it must be, whose subject it is about, who may produce it and how much of it
automation covers. :func:`evaluate_control` is the one place that judges it; gates name
controls, and a gate policy's inline ``evidence:`` requirements are anonymous controls.
"""

from bastion.compliance._checks import AttestationCheck, AttestationData
from bastion.compliance._controls import (
    PLANNED_EVIDENCE_KINDS,
    ProducerRoles,
    attest,
    evaluate_control,
    evaluate_control_for,
    get_control,
    known_evidence_kinds,
    list_controls,
    parse_catalog,
    pending_evidence_kinds,
    resolve_subject,
)
from bastion.compliance.interface import (
    PRODUCER_ROLES,
    Condition,
    Control,
    ControlResult,
    ControlSubject,
    Coverage,
    Scope,
    producer_allowed,
)

__all__ = [
    "PLANNED_EVIDENCE_KINDS",
    "PRODUCER_ROLES",
    "AttestationCheck",
    "AttestationData",
    "Condition",
    "Control",
    "ControlResult",
    "ControlSubject",
    "Coverage",
    "ProducerRoles",
    "Scope",
    "attest",
    "evaluate_control",
    "evaluate_control_for",
    "get_control",
    "known_evidence_kinds",
    "list_controls",
    "parse_catalog",
    "pending_evidence_kinds",
    "producer_allowed",
    "resolve_subject",
]
