"""Imports every room's checks so they register themselves (core cannot import rooms)."""

from __future__ import annotations

import importlib

__all__ = ["load_checks"]

_CHECK_MODULES = (
    "bastion.inventory._checks",
    "bastion.threats._checks",
    "bastion.risk._checks",
    "bastion.integrity._checks",
    "bastion.registry._checks",
    "bastion.governance._checks",
    "bastion.compliance._checks",
    "bastion.privacy.pii._checks",
    "bastion.privacy.deid._checks",
    "bastion.privacy.dp._checks",
    "bastion.privacy.synthetic._checks",
    "bastion.privacy.minimize._checks",
    "bastion.privacy.validate._checks",
    "bastion.privacy.retention._checks",
    "bastion.privacy.pia._checks",
    "bastion.monitor._checks",
    "bastion.incidents._tabletop",
    "bastion.robustness._checks",
    "bastion.robustness.campaign._checks",
    "bastion.robustness.llm._checks",
)


def load_checks() -> None:
    for name in _CHECK_MODULES:
        importlib.import_module(name)
