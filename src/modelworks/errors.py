"""The one error type that users see.

Anything a user can fix (a wrong path, a malformed file, an impossible option) raises
:class:`UserError` with a one-line message naming the file and field. The CLI prints it on one
line and exits with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


class ConfigError(UserError):
    """A config file or override that cannot be turned into the typed config."""


class MissingExtraError(UserError):
    """An optional dependency is not installed; the message names the pip command."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" ({purpose})" if purpose else ""
        super().__init__(f"the package '{package}' is needed{what}: install it with pip install 'modelworks[{extra}]'")


def require(module: str, extra: str, purpose: str = ""):
    """Import an optional module, or raise :class:`MissingExtraError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module.split(".")[0], extra, purpose) from exc
