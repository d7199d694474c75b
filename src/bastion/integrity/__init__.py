"""The integrity room (being built)."""

__all__: list[str] = []
