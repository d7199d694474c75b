"""Checks of the governance room; importing this module registers them (none yet: the
gate reads governance state directly, see docs/governance.md)."""
