"""Public names of the integrity room's supply part (its engineer owns this file)."""

__all__: list[str] = []
