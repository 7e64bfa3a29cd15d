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


@pytest.mark.parametrize(("override", "message"), [
    ("finetune.batch_size=0", "key 'finetune.batch_size' must be >= 1, got 0"),
    ("finetune.epochs=0", "key 'finetune.epochs' must be >= 1"),
    ("finetune.max_length=0", "key 'finetune.max_length' must be >= 2"),
    ("finetune.check_every=0", "key 'finetune.check_every' must be >= 1"),
    ("finetune.lr=-1", "key 'finetune.lr' must be > 0, got -1.0"),
    ("unlearn.lr=.nan", "key 'unlearn.lr' must be a finite number, got nan"),  # the loader refuses NaN / inf
    ("unlearn.beta=0", "key 'unlearn.beta' must be > 0"),
    ("unlearn.warmup_epochs=.inf", "key 'unlearn.warmup_epochs' must be a finite number, got inf"),
    ("unlearn.methods=[meow,bogus]", "key 'unlearn.methods': unknown unlearning method 'bogus'"),
    ("unlearn.method=forgetall", "key 'unlearn.method': unknown unlearning method 'forgetall'"),
    ("unlearn.methods=[]", "key 'unlearn.methods' needs at least one method"),
    ("unlearn.eval_every=-1", "key 'unlearn.eval_every' must be >= 0"),
    ("unlearn.optimizer=adamm", "key 'unlearn.optimizer' must be one of adamw"),
    ("memo.batch_size=0", "key 'memo.batch_size' must be >= 1"),
    ("memo.step=0", "key 'memo.step' must be >= 1"),
    ("invert.k=0", "key 'invert.k' must be >= 1"),
    ("threads=-1", "key 'threads' must be >= 0"),
    ("device=gpu", "key 'device' must be cpu, cuda, cuda:N or mps, got 'gpu'"),
    ("model.layers=-1", "key 'model.layers' must be >= 1"),
    ("model.hidden=63", r"key 'model.hidden' \(63\) must be divisible by 'heads' \(4\)"),
    ("data.n_authors=15", "key 'data.n_authors' .15. must be a multiple of 10 for data.forget_split forget10"),
    ("data.forget_split=forget07", "key 'data.forget_split' must be forget01, forget05 or forget10"),
    ("data.max_retain_authors=0", "key 'data.max_retain_authors' must be >= 1"),
])
def test_out_of_range_values_fail_at_load(override, message):
    path = CONFIGS[0].parent / "tiny.yaml"
    with pytest.raises(ConfigError, match=f"^{path}: {message}"):
        load_config(UnlearnConfig, path, [override])


def test_ok_edge_values_load():
    cfg = load_config(UnlearnConfig, None, ["threads=0", "unlearn.eval_every=0", "device=cuda:1", "data.n_authors=20",
                                            "data.forget_split=forget05", "data.source=some/dir", "model.hidden=48",
                                            "model.heads=3"])
    assert cfg.device == "cuda:1" and cfg.model.hidden == 48
    # a TOFU directory has its own authors: n_authors only constrains generated data
    assert load_config(UnlearnConfig, None, ["data.source=x", "data.n_authors=15"]).data.n_authors == 15


def test_unavailable_device_fails_before_the_run(tmp_path, monkeypatch, cli):
    import torch

    from modelworks.env import check_device
    from modelworks.errors import UserError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="key 'device' is 'cuda' but torch sees no CUDA GPU"):
        check_device("cuda")
    check_device("cpu")
    out = tmp_path / "run"
    res = cli("unlearn", "run", str(CONFIGS[0].parent / "tiny.yaml"), "model.hidden=63", "--out", str(out))
    assert res.returncode == 2 and not out.exists()
    assert res.stderr.strip().splitlines() == [
        f"error: {CONFIGS[0].parent / 'tiny.yaml'}: key 'model.hidden' (63) must be divisible by 'heads' (4)"]
