"""Every shipped configs/unlearn/*.yaml loads; bad keys fail with the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelworks.config import load_config
from modelworks.errors import ConfigError
from modelworks.unlearn.config import UnlearnConfig
from modelworks.unlearn.methods import get_method

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "unlearn").glob("*.yaml"))


def test_there_are_configs():
    assert {p.name for p in CONFIGS} >= {"tofu_cpu.yaml", "tiny.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads(path):
    cfg = load_config(UnlearnConfig, path)
    for m in [cfg.unlearn.method, *cfg.unlearn.methods]:
        get_method(m)


def test_bad_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("unlearn: {lr: fast}\n")
    with pytest.raises(ConfigError, match="key 'unlearn.lr' expects float"):
        load_config(UnlearnConfig, p)
    p.write_text("data: {forget_split: everything}\n")
    with pytest.raises(ConfigError, match="forget_split"):
        load_config(UnlearnConfig, p)
    p.write_text("invert: {source: meow_file}\n")
    with pytest.raises(ConfigError, match="'invert.file' is required"):
        load_config(UnlearnConfig, p)
    with pytest.raises(ConfigError, match="unknown key 'unlearn.lrr'"):
        load_config(UnlearnConfig, None, ["unlearn.lrr=1"])
