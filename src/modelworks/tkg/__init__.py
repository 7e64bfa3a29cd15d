"""Temporal KG completion as event generation from history chains."""

__all__: list[str] = []
