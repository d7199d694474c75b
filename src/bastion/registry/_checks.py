"""Checks of the registry room; importing this module registers them (none: the gate
consumes other rooms' evidence rather than producing its own)."""
