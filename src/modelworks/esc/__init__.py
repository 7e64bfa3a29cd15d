"""ESC-Eval: role-play evaluation of emotional-support models, ESC-RANK."""

__all__: list[str] = []
