"""Provider registry: ``get_model("mock")``, ``get_model("hf/./my-model")``, ``get_model("openai/gpt-4o")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelworks.chat._types import ChatModel
from modelworks.errors import UserError

_PROVIDERS: dict[str, Callable[..., ChatModel]] = {}


def register_provider(name: str) -> Callable[[Callable[..., ChatModel]], Callable[..., ChatModel]]:
    """Register a factory ``factory(model_name, **options) -> ChatModel`` under ``name``."""

    def deco(factory: Callable[..., ChatModel]) -> Callable[..., ChatModel]:
        if name in _PROVIDERS:
            raise ValueError(f"chat provider '{name}' is registered twice")
        _PROVIDERS[name] = factory
        return factory

    return deco


def providers() -> list[str]:
    _load_builtin()
    return sorted(_PROVIDERS)


def check_spec(spec: str) -> tuple[str, str]:
    """``(provider, model)`` of a ``provider/model`` spec, or a one-line :class:`UserError` (nothing is loaded)."""
    _load_builtin()
    provider, _, model = spec.partition("/")
    if provider not in _PROVIDERS:
        raise UserError(
            f"unknown model provider '{provider}' in '{spec}'; use one of: "
            + ", ".join(f"{p}/..." if p != "mock" else "mock" for p in sorted(_PROVIDERS))
        )
    if provider != "mock" and not model:
        raise UserError(f"model '{spec}' names no model: write {provider}/<model>")
    return provider, model


def get_model(spec: str | ChatModel, **options: Any) -> ChatModel:
    """Resolve ``provider/model`` (or a bare ``mock``) to a ChatModel; objects pass through."""
    if not isinstance(spec, str):
        return spec
    provider, model = check_spec(spec)
    try:
        return _PROVIDERS[provider](model, **options)
    except TypeError as e:  # an option the provider does not take (other TypeErrors are bugs: not hidden)
        import re

        m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if not m or m.group(1) not in options:
            raise
        raise UserError(f"'{m.group(1)}' is not an option of the {provider} provider (model '{spec}')") from None


def _load_builtin() -> None:
    # Importing the modules runs their one-line registrations; heavy SDKs load lazily inside.
    from modelworks.chat import hf, mock, openai  # noqa: F401
