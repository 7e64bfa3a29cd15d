"""The honeypot CLI: one-line errors for bad inputs, every shipped config loads, verify's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "honeypot").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    from modelworks.config import load_config
    from modelworks.honeypot.config import HoneypotRunConfig

    cfg = load_config(HoneypotRunConfig, path)
    assert cfg.attacks and cfg.data.defender_queries


def test_config_rejects_overlapping_shadow_and_attacker_sets():
    from modelworks.config import load_config
    from modelworks.errors import ConfigError
    from modelworks.honeypot.config import HoneypotRunConfig

    with pytest.raises(ConfigError, match="overlaps the defender's shadow set"):
        load_config(HoneypotRunConfig, REPO / "configs/honeypot/digits.yaml",
                    ['data.defender_queries=["photos_b[0:100]"]'])


def _one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and "Traceback" not in proc.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


def test_unknown_dataset_is_a_one_line_error(cli):
    proc = cli("honeypot", "run", "configs/honeypot/digits.yaml", "data.test=[imagenet]")
    _one_line_error(proc, "unknown dataset 'imagenet'", "data.test")


def test_model_without_linear_head_is_a_one_line_error(cli, tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 10, 8), torch.nn.Flatten())
    torch.save(model, tmp_path / "conv.pt")
    proc = cli("honeypot", "run", "configs/honeypot/digits.yaml", f"victim.load={tmp_path / 'conv.pt'}",
               "--out", str(tmp_path / "run"))
    _one_line_error(proc, "no linear classifier head")
    assert not (tmp_path / "run").exists()


def _tiny_model_and_trigger(tmp_path, size=8):
    from modelworks.honeypot.trigger import new_trigger, save_trigger
    from modelworks.honeypot.victims import build_classifier, save_model

    torch.manual_seed(0)
    save_model(build_classifier("mlp", 1, 8, 10), tmp_path / "m" / "model.pt")
    (tmp_path / "m" / "model.json").write_text(json.dumps({"input_shape": [1, 8, 8]}))
    save_trigger(new_trigger("patch", 1, size, target=0, patch_size=2), tmp_path / "t" / "trigger.pt")


def test_trigger_of_the_wrong_shape_is_a_one_line_error(cli, tmp_path):
    _tiny_model_and_trigger(tmp_path, size=28)
    proc = cli("honeypot", "verify", "--suspect", str(tmp_path / "m"), "--trigger", str(tmp_path / "t" / "trigger.pt"),
               "--data", "digits[0:200]", "--p0", "0.05")
    _one_line_error(proc, "trigger.pt", "'delta'", "(1, 28, 28)")


def test_bad_trigger_file_and_missing_suspect(cli, tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a tensor file")
    _tiny_model_and_trigger(tmp_path)
    proc = cli("honeypot", "verify", "--suspect", str(tmp_path / "m"), "--trigger", str(tmp_path / "bad.pt"),
               "--data", "digits", "--p0", "0.05")
    _one_line_error(proc, "bad.pt", "not a trigger file")
    proc = cli("honeypot", "verify", "--suspect", str(tmp_path / "nothing"), "--trigger",
               str(tmp_path / "t" / "trigger.pt"), "--data", "digits", "--p0", "0.05")
    _one_line_error(proc, "model file not found")
    proc = cli("honeypot", "verify", "--suspect", str(tmp_path / "m"), "--trigger", str(tmp_path / "none.pt"))
    _one_line_error(proc, "none.pt: file not found")
    trig = str(tmp_path / "t" / "trigger.pt")
    for flag, value, message in (("--alpha", "5", "--alpha (a significance level) must be in (0, 1)"),
                                 ("--queries", "-5", "--queries must be >= 1"), ("--p0", "1.5", "--p0 must be in")):
        proc = cli("honeypot", "verify", "--suspect", str(tmp_path / "m"), "--trigger", trig, "--data", "digits",
                   "--p0", "0.05", flag, value)
        _one_line_error(proc, message)


def test_config_ranges_fail_at_load(cli):
    proc = cli("honeypot", "run", "configs/honeypot/digits.yaml", "budgets=[0]")
    _one_line_error(proc, "digits.yaml", "budgets[0]' must be >= 1")
    proc = cli("honeypot", "run", "configs/honeypot/digits.yaml", "verify.alpha=2")
    _one_line_error(proc, "'verify.alpha' (a significance level) must be in (0, 1)")


def test_verify_exit_code_is_one_when_not_shown(cli, tmp_path):
    _tiny_model_and_trigger(tmp_path)
    proc = cli("honeypot", "verify", "--suspect", str(tmp_path / "m"), "--trigger", str(tmp_path / "t" / "trigger.pt"),
               "--data", "digits[0:300]", "--p0", "0.5", "--queries", "50")
    assert proc.returncode == 1, proc.stderr
    assert "ownership not shown" in proc.stdout


def test_folder_with_more_classes_than_the_config_is_refused(cli, tmp_path):
    from PIL import Image

    for k in range(12):  # 12 class subfolders, digits.yaml has 10 classes
        (tmp_path / "imgs" / f"c{k:02d}").mkdir(parents=True)
        Image.new("L", (8, 8), k * 20).save(tmp_path / "imgs" / f"c{k:02d}" / "a.png")
    proc = cli("honeypot", "run", "configs/honeypot/digits.yaml", f'data.test=["folder:{tmp_path / "imgs"}"]',
               "--out", str(tmp_path / "run"))
    _one_line_error(proc, "labels go up to 11", "data.num_classes is 10")
    assert not (tmp_path / "run").exists()  # refused before the run folder is made
