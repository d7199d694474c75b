"""The threats room (being built)."""

__all__: list[str] = []
