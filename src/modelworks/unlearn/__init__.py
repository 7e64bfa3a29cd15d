"""MEOW unlearning with MEMO-selected inverted facts; TOFU protocol and baselines."""

__all__: list[str] = []
