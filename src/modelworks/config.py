"""YAML -> typed dataclass, with ``key=value`` / ``a.b=value`` overrides and clear errors.

Every capability describes its job as a (nested) dataclass. :func:`load_config` reads a YAML
file, applies command-line overrides, and builds the dataclass, checking each value against its
annotation. Errors are :class:`~modelworks.errors.ConfigError` with the file and the dotted key::

    configs/train/tiny.yaml: unknown key 'optim.lr'; valid keys: lr, model, optimizer, ...
    configs/train/tiny.yaml: key 'lr' expects float, got 'fast'

Validation that involves several fields belongs in the dataclass's ``__post_init__``; raise
``ConfigError("key 'x' ...")`` there and the loader adds the file name.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from modelworks.errors import ConfigError, UserError

T = TypeVar("T")

# Which dataclass a YAML under configs/<kind>/ describes (used by `modelworks validate` and the
# test that loads every shipped config). A capability with several kinds of config file names the
# class per file in CONFIG_FILES ("<kind>/<file name>").
CONFIG_KINDS: dict[str, str] = {
    "models": "modelworks.models:TinyLMConfig",
    "train": "modelworks.train.config:TrainConfig",
    "unlearn": "modelworks.unlearn.config:UnlearnConfig",
    "tkg": "modelworks.tkg.recipe:TKGRunConfig",
    "honeypot": "modelworks.honeypot.config:HoneypotRunConfig",
    "esc": "modelworks.esc.runner:EscRunConfig",
    "guard": "modelworks.guard.pipeline:EvalConfig",
}
CONFIG_FILES: dict[str, str] = {
    "guard/build.yaml": "modelworks.guard.build:BuildConfig",
    "guard/judge.yaml": "modelworks.guard.judge:HarmJudgeConfig",
    "guard/judge_features_all.yaml": "modelworks.guard.judge:HarmJudgeConfig",
    "guard/guardrank.yaml": "modelworks.guard.guardrank:GuardRankConfig",
}

__all__ = [
    "config_class",
    "CONFIG_KINDS",
    "load_config",
    "check_numbers",
    "from_dict",
    "to_dict",
    "dump_yaml",
    "parse_overrides",
    "ConfigError",
]


def check_numbers(cfg: object, at_least_1: tuple[str, ...] = (), at_least_0: tuple[str, ...] = (),
                  positive: tuple[str, ...] = (), at_least: dict[float, tuple[str, ...]] | None = None) -> None:
    """Range checks for a config's counts and rates, as one-line :class:`ConfigError`s naming the key.

    Every named key must hold a finite number (NaN and infinity are refused) that is >= 1, >= 0, > 0, or
    >= the given minimum (``at_least={8: ("vocab_size",)}``); a key left at None (optional) is not checked.
    The one place for these checks: dataclass configs call it from ``__post_init__``.
    """
    rules = [(at_least_1, 1, ">="), (at_least_0, 0, ">="), (positive, 0, ">")]
    rules += [(keys, bound, ">=") for bound, keys in (at_least or {}).items()]
    for keys, bound, op in rules:
        for key in keys:
            value = getattr(cfg, key)
            if value is None:
                continue
            if isinstance(value, float) and not math.isfinite(value):  # ints are finite (and may be huge)
                raise ConfigError(f"key '{key}' must be a finite number, got {value}")
            if value < bound or (op == ">" and value == bound):
                raise ConfigError(f"key '{key}' must be {op} {bound:g}, got {value}")


class _DuplicateKey(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` merges; SafeLoader expands it below
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                continue
            if key in seen:
                raise _DuplicateKey(f"key '{key}' is given twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with one-line errors for a missing or malformed file."""
    from modelworks.jsonl import read_text

    p = Path(path)
    try:
        text = read_text(p, "config file")  # "config file not found: ..." / "... is a folder" / not UTF-8
    except UserError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(f"{p}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}: malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Turn ``["lr=1e-4", "peft.r=8"]`` into a nested dict; values are parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value (or a.b=value)")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override '{item}' has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{item}' conflicts with an earlier override of '{part}'")
            node = child
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and value and isinstance(merged.get(key), dict):  # 'key={}' clears a mapping
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    defaults: dict[str, Any] | None = None,
) -> T:
    """Build ``cls`` from an optional YAML file plus ``key=value`` overrides."""
    data: dict[str, Any] = dict(defaults or {})
    source = str(path) if path is not None else ("command-line settings" if overrides else "config")
    if path is not None:
        data = _merge(data, read_yaml(path))
    if overrides:
        data = _merge(data, parse_overrides(overrides))
    return from_dict(cls, data, source=source)


def from_dict(cls: type[T], data: dict[str, Any], source: str = "config", prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types recursively."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: key '{prefix.rstrip('.') or '<root>'}' expects a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}'; valid keys: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], f"{prefix}{name}", source)
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    if missing:
        raise ConfigError(f"{source}: missing required key '{prefix}{missing[0]}'")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        msg = str(exc)
        if prefix and "key '" in msg:
            msg = msg.replace("key '", f"key '{prefix}", 1)
        raise ConfigError(f"{source}: {msg}") from None


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


class _NotFinite(ConfigError):
    """A float setting given as NaN or infinity (kept apart so that ``float | None`` reports it as such)."""


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    def fail() -> typing.NoReturn:
        raise ConfigError(f"{source}: key '{key}' expects {_type_name(tp)}, got {value!r}")

    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin is Literal:
        if value in get_args(tp):
            return value
        fail()
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            fail()
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # X | None: X's own error names the inner key (e.g. 'ablation_train.lr')
            inner = options[0]
            scalar = not dataclasses.is_dataclass(inner) and get_origin(inner) in (None, Literal)
            try:
                return _convert(value, inner, key, source)
            except _NotFinite:
                raise
            except ConfigError:
                if scalar:
                    fail()  # "expects int or null"
                raise
        for arg in options:
            try:
                return _convert(value, arg, key, source)
            except ConfigError:
                continue
        fail()
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, source=source, prefix=f"{key}.")  # type: ignore[arg-type]
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            fail()
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_convert(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            fail()
        args = get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, val_tp, f"{key}.{k}", source) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        fail()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                fail()
            if f.is_integer():
                return int(f)
        fail()
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            fail()
        try:
            number = float(value)  # YAML 1.1 reads "1e-5" as a string
        except ValueError:
            fail()
        if not math.isfinite(number):  # no setting of this package means NaN or infinity
            raise _NotFinite(f"{source}: key '{key}' must be a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        fail()
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        fail()
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    fail()


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain YAML-able data (paths become strings, tuples lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


def dump_yaml(cfg: Any) -> str:
    """The resolved config as YAML text, keys in declaration order."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)


def config_class(path: str | Path, kind: str | None = None) -> type:
    """The config dataclass for a YAML file: by ``kind`` or by its folder name (configs/<kind>/x.yaml)."""
    import importlib

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    target = CONFIG_FILES.get(f"{p.parent.name}/{p.name}") if kind is None else None
    kind = kind or p.parent.name
    target = target or CONFIG_KINDS.get(kind)
    if target is None:
        raise ConfigError(
            f"{p}: cannot tell which config this is; pass --kind with one of {', '.join(sorted(CONFIG_KINDS))}"
        )
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
