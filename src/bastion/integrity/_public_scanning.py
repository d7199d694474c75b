"""Public names of the integrity room's scanning part (its engineer owns this file)."""

__all__: list[str] = []
