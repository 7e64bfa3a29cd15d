"""The memory estimator: its formula, the CLI, and its prediction against measured peaks (within 15%)."""

from __future__ import annotations

import json

import pytest

from modelworks.train.estimate import estimate_memory


def test_components_follow_bytes_per_parameter():
    p = 1e9
    adam = estimate_memory(p, "adamw", precision="fp32", seq=1)
    assert adam.weights == 4 * p and adam.gradients == 4 * p and adam.optimizer_states == 8 * p
    lomo = estimate_memory(p, "lomo", precision="fp32", seq=1)
    assert lomo.optimizer_states == 0 and lomo.gradients < 0.15 * adam.gradients
    assert estimate_memory(p, "adan", precision="fp32", seq=1).optimizer_states == 16 * p
    lora = estimate_memory(p, "adamw", peft="lora", precision="bf16", seq=1)
    assert lora.trainable_params < 0.01 * p and lora.optimizer_states < 0.02 * lora.weights
    z3 = estimate_memory(p, "adamw", dp=4, zero=3, precision="fp32", seq=1)
    assert z3.weights == p and z3.optimizer_states == 2 * p
    ckpt = estimate_memory(p, "adamw", seq=2048, grad_checkpointing=True)
    assert ckpt.activations < estimate_memory(p, "adamw", seq=2048).activations


def test_estimate_cli_prints_components(cli):
    proc = cli("train", "estimate", "--params", "7e9", "--optimizer", "adalomo", "--peft", "none", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["weights"] == pytest.approx(7e9 * 2 / 2**20)
    assert out["optimizer_states"] < 0.01 * out["weights"]
    proc = cli("train", "estimate", "--params", "7e9", "--optimizer", "adamw", "--dp", "8", "--zero", "3")
    assert proc.returncode == 0 and "optimizer states" in proc.stdout
    bad = cli("train", "estimate", "--params", "7e9", "--optimizer", "nope")
    assert bad.returncode == 2 and "optimizer" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adamw", "lomo", "adalomo"])
def test_estimate_within_15_percent_of_measured_peak(optimizer):
    """An 88M-parameter random Llama in fp32 on CPU, fresh process, peak RSS above the warmed-up baseline."""
    from modelworks.train.memprobe import measure

    r = measure({"optimizer": optimizer, "layers": 8, "hidden": 768, "heads": 12, "vocab": 8192, "threads": 1,
                 "steps": 2})
    assert abs(r["estimate_mb"] - r["peak_mb"]) / r["peak_mb"] <= 0.15, r


@pytest.mark.parametrize("kwargs,message", [
    ({"seq": -1}, "--seq must be >= 1, got -1"),
    ({"batch": 0}, "--batch must be >= 1, got 0"),
    ({"dp": 0}, "--dp must be >= 1, got 0"),
    ({"zero": 5}, "--zero must be one of 0, 1, 2, 3, got 5"),
    ({"params": -1.0}, "--params must be a positive number, got -1.0"),
    ({"params": float("nan")}, "--params must be a positive number, got nan"),
])
def test_each_bad_argument_is_named_on_its_own(kwargs, message):
    from modelworks.errors import UserError

    with pytest.raises(UserError) as err:
        estimate_memory(**{"params": 7e9, **kwargs})
    assert str(err.value) == message


def test_estimate_cli_rejects_a_negative_sequence(cli):
    bad = cli("train", "estimate", "--params", "7e9", "--seq", "-1", "--json")
    assert bad.returncode == 2 and "--seq must be >= 1" in bad.stderr and not bad.stdout
    assert len(bad.stderr.strip().splitlines()) == 1
