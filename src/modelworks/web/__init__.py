"""The annotation web app shared by esc and guard."""

__all__: list[str] = []
