"""The registry room's hooks, as Protocols: what other parts plug into it, and what it
offers other rooms to plug in elsewhere (wired once by :func:`bastion.wiring.wire`).

- :class:`RollbackHook`: called after every committed rollback (deployers, incident
  response), registered with :func:`bastion.registry.register_rollback_hook`.
- The registry's conflict-of-interest rule, :func:`bastion.registry.version_authors`, is a
  :class:`bastion.governance.ConflictCheck`; its gate-policy applier,
  :func:`bastion.registry.apply_policy_proposal`, a :class:`bastion.governance.ChangeApplier`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bastion.registry._store import Transition

__all__ = ["RollbackHook"]


class RollbackHook(Protocol):
    """Told of a committed rollback (the transition to the known-good version). A failing
    hook is ledgered (``registry.rollback_hook_failed``) and never undoes the rollback."""

    def __call__(self, transition: Transition, /) -> None: ...
