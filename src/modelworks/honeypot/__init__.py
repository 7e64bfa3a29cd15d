"""HoneypotNet: backdoor extraction attacks and verify ownership."""

__all__: list[str] = []
