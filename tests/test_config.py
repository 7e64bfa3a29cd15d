from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from modelworks.config import (
    CONFIG_FILES,
    CONFIG_KINDS,
    check_numbers,
    config_class,
    dump_yaml,
    load_config,
    parse_overrides,
)
from modelworks.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Inner:
    r: int = 8
    alpha: float = 16.0
    targets: list[str] = field(default_factory=lambda: ["q_proj"])


@dataclass
class Outer:
    name: str = "x"
    lr: float = 1e-3
    steps: int = 10
    mode: Literal["a", "b"] = "a"
    flag: bool = False
    maybe: int | None = None
    inner: Inner = field(default_factory=Inner)
    optional_inner: Inner | None = None

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError(f"key 'steps' must be >= 0, got {self.steps}")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_yaml_and_overrides_build_typed_config(tmp_path):
    p = write(tmp_path, "name: run\nlr: 1e-4\ninner:\n  r: 4\n")
    cfg = load_config(Outer, p, ["steps=20", "inner.alpha=8", "mode=b", "maybe=null", "flag=true"])
    assert cfg.name == "run" and cfg.lr == pytest.approx(1e-4)  # YAML 1.1 reads 1e-4 as a string
    assert cfg.steps == 20 and cfg.mode == "b" and cfg.flag is True and cfg.maybe is None
    assert cfg.inner.r == 4 and cfg.inner.alpha == 8.0 and cfg.inner.targets == ["q_proj"]
    assert "lr: 0.0001" in dump_yaml(cfg)


def test_unknown_key_names_dotted_path_and_valid_keys(tmp_path):
    p = write(tmp_path, "inner:\n  rank: 4\n")
    with pytest.raises(ConfigError) as e:
        load_config(Outer, p)
    msg = str(e.value)
    assert str(p) in msg and "'inner.rank'" in msg and "alpha, r, targets" in msg


def test_an_optional_scalar_error_says_null_is_allowed():
    with pytest.raises(ConfigError, match=r"key 'maybe' expects int or null, got 'x'"):
        load_config(Outer, None, ["maybe=x"])


def test_errors_inside_an_optional_section_name_the_inner_key(tmp_path):
    p = write(tmp_path, "optional_inner:\n  r: 4\n")
    assert load_config(Outer, p).optional_inner.r == 4
    with pytest.raises(ConfigError, match=r"c.yaml: key 'optional_inner.alpha' expects float, got 'abc'"):
        load_config(Outer, p, ["optional_inner.alpha=abc"])
    with pytest.raises(ConfigError, match=r"unknown key 'optional_inner.rr'"):
        load_config(Outer, p, ["optional_inner.rr=1"])


def test_unknown_override_key():
    with pytest.raises(ConfigError, match=r"unknown key 'lrr'; valid keys: flag, inner, lr"):
        load_config(Outer, None, ["lrr=3"])


@pytest.mark.parametrize(
    "override,expected",
    [
        ("lr=fast", "key 'lr' expects float, got 'fast'"),
        ("steps=1.5", "key 'steps' expects int, got 1.5"),
        ("mode=c", "key 'mode' expects one of 'a', 'b', got 'c'"),
        ("flag=3", "key 'flag' expects bool, got 3"),
        ("inner.targets=q", "key 'inner.targets' expects list[str], got 'q'"),
        ("inner=5", "key 'inner' expects a mapping, got 5"),
    ],
)
def test_wrong_type_names_key_type_and_value(override, expected):
    with pytest.raises(ConfigError) as e:
        load_config(Outer, None, [override])
    assert expected in str(e.value)


def test_post_init_validation_gets_file_name(tmp_path):
    p = write(tmp_path, "steps: -1\n")
    with pytest.raises(ConfigError, match=rf"^{p}: key 'steps' must be >= 0, got -1$"):
        load_config(Outer, p)


def test_missing_file_and_malformed_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(Outer, tmp_path / "nope.yaml")
    bad = write(tmp_path, "name: [1, 2\n")
    with pytest.raises(ConfigError, match=r"malformed YAML at line \d+"):
        load_config(Outer, bad)
    top = write(tmp_path, "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Outer, top)


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="must look like key=value"):
        parse_overrides(["lr"])
    with pytest.raises(ConfigError, match="empty key"):
        parse_overrides(["a..b=1"])
    assert parse_overrides(["a.b=1", "a.c=x", "d=[1, 2]"]) == {"a": {"b": 1, "c": "x"}, "d": [1, 2]}


def shipped_configs() -> list[Path]:
    return sorted((REPO / "configs").rglob("*.yaml"))


def test_every_config_folder_has_a_kind():
    kinds = {p.parent.name for p in shipped_configs() if p.parent.parent == REPO / "configs"}
    assert kinds <= set(CONFIG_KINDS), f"add these to CONFIG_KINDS: {kinds - set(CONFIG_KINDS)}"
    assert set(CONFIG_FILES) <= {f"{p.parent.name}/{p.name}" for p in shipped_configs()}


@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_config_loads(path):
    if path.parent.parent != REPO / "configs":
        pytest.skip("data or template file below a config folder, not a config")
    cfg = load_config(config_class(path), path)
    assert cfg is not None


@dataclass
class _Counts:
    epochs: int = 1
    lr: float = 0.1
    decay: float = 0.0
    vocab: int = 8
    limit: int | None = None


@pytest.mark.parametrize("values,message", [
    ({"epochs": 0}, "key 'epochs' must be >= 1, got 0"),
    ({"lr": 0.0}, "key 'lr' must be > 0, got 0.0"),
    ({"lr": float("nan")}, "key 'lr' must be a finite number, got nan"),
    ({"decay": -0.5}, "key 'decay' must be >= 0, got -0.5"),
    ({"decay": float("inf")}, "key 'decay' must be a finite number, got inf"),
    ({"vocab": 7}, "key 'vocab' must be >= 8, got 7"),
    ({"limit": 0}, "key 'limit' must be >= 1, got 0"),
])
def test_check_numbers_names_the_key_and_the_rule(values, message):
    cfg = _Counts(**values)
    with pytest.raises(ConfigError, match=f"^{message}$"):
        check_numbers(cfg, at_least_1=("epochs", "limit"), at_least_0=("decay",), positive=("lr",), at_least={8: ("vocab",)})


def test_check_numbers_accepts_bounds_and_unset_optional_keys():
    check_numbers(_Counts(), at_least_1=("epochs", "limit"), at_least_0=("decay",), positive=("lr",),
                  at_least={8: ("vocab",)})  # limit None: an optional key left unset
