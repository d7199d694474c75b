"""Public names of the integrity room's signing part (its engineer owns this file)."""

__all__: list[str] = []
