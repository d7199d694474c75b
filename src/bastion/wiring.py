"""The composition root: the one place rooms are plugged into each other.

Rooms never register themselves by being imported, and no room imports this module.
:func:`wire` runs once per process, when the first :class:`~bastion.core.workspace.Workspace`
is made (so every way in, CLI, API, demo or Python, gets the same wiring):

- every room's checks are imported, so they are in the check registry;
- the registry's conflict-of-interest rule (a model version's authors may not vote on its
  change requests) is a :class:`bastion.governance.ConflictCheck`;
- incident playbooks revoke tokens with ``bastion.access.revoke_token``, suspend
  just-in-time grants with ``bastion.access.revoke_grant`` and roll models back with
  ``bastion.registry.rollback_to_last_good`` (``bastion.incidents`` hooks);
- the two-person rule's appliers (:class:`bastion.governance.ChangeApplier`): a gate policy
  (registry) and a governance file (governance).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = ["wire", "wired"]

_LOCK = threading.RLock()
_WIRED = False


def wired() -> bool:
    """Has :func:`wire` run in this process?"""
    return _WIRED


def _suspend_grant(ws: Workspace, grant_id: str, actor: str, reason: str) -> object:
    """A playbook's ``suspend_grant``: the access room revokes the just-in-time grant. The
    run is already authorised (a local operator on the CLI; over the API a token with
    approve or admin and a current TOTP code), so the responder acts as an approver whose
    MFA was checked; the ledger names the person who ran the playbook."""
    from bastion import access

    responder = access.Principal(
        token_id="playbook", name=actor[:100], role=access.Role.APPROVER, mfa_verified=True
    )
    return access.revoke_grant(ws, grant_id, responder, note=reason[:1000])


def wire() -> None:
    """Register every room's checks and hooks; idempotent and thread-safe."""
    global _WIRED
    if _WIRED:
        return
    with _LOCK:
        if _WIRED:
            return
        from bastion import access, governance, incidents, registry
        from bastion._plugins import load_checks

        load_checks()
        # The conflict-of-interest rule: a model version's authors may not vote on its
        # change requests.
        governance.register_conflict_check(registry.version_authors)
        # The two-person rule: what an approved proposal of each kind does.
        governance.register_change_kind(
            governance.ChangeKind.GATE_POLICY, registry.apply_policy_proposal
        )
        governance.register_change_kind(
            governance.ChangeKind.GOVERNANCE_CONFIG, governance.apply_proposed_config
        )
        # Incident playbook actions: revoke a token (access), roll a model back to its last
        # verified version (registry).
        incidents.register_token_revoker(access.revoke_token)
        incidents.register_model_rollback(registry.rollback_to_last_good)
        incidents.register_grant_suspender(_suspend_grant)
        _WIRED = True
