"""The governance room (being built)."""

__all__: list[str] = []
