"""Promotion gates: evaluate a version against its tier's policy, record approvals with
separation of duties and MFA, promote or refuse, and roll back to a known-good version.

Every decision is a ledger event; a promotion records the evidence and approvals it
relied on. Stage changes of one model are serialised by a lock on its row.

The parts: :mod:`._gate_eval` (evaluation; controls through the compliance room),
:mod:`._gate_approvals` (requests, sign-offs, board decisions), :mod:`._gate_promotion`
and :mod:`._gate_rollback`; :mod:`._gate_common` holds what they share.
"""

from __future__ import annotations

from bastion.registry._gate_approvals import (
    Approval,
    approve,
    list_approvals,
    request_promotion,
)
from bastion.registry._gate_common import RequirementResult, revoked_at
from bastion.registry._gate_eval import (
    GateResult,
    evaluate_gate,
    list_refusals,
    pending_promotions,
)
from bastion.registry._gate_promotion import PromotionResult, promote
from bastion.registry._gate_rollback import (
    RollbackHook,
    register_rollback_hook,
    rollback,
    rollback_to_last_good,
)

__all__ = [
    "Approval",
    "GateResult",
    "PromotionResult",
    "RequirementResult",
    "RollbackHook",
    "approve",
    "evaluate_gate",
    "list_approvals",
    "list_refusals",
    "pending_promotions",
    "promote",
    "register_rollback_hook",
    "request_promotion",
    "revoked_at",
    "rollback",
    "rollback_to_last_good",
]
