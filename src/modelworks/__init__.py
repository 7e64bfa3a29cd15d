"""modelworks: train, protect and evaluate models — six research systems behind one CLI."""

__version__ = "0.1.0"

__all__ = ["__version__"]
