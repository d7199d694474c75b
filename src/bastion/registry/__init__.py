"""The registry room (being built)."""

__all__: list[str] = []
