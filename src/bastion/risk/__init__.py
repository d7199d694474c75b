"""The risk room (being built)."""

__all__: list[str] = []
