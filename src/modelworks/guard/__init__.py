"""MLLMGuard: multimodal safety evaluation, GuardRank, ASD/PAR."""

__all__: list[str] = []
