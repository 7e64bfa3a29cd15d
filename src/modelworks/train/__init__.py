"""CoLLiE training engine: optimizers, PEFT, 3D parallelism, monitors, resume."""

__all__: list[str] = []
