"""Config loading: every shipped YAML loads; impossible combinations are rejected with the key named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelworks.config import load_config
from modelworks.errors import ConfigError, UserError
from modelworks.train import TrainConfig, parse_parallel

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    cfg = load_config(TrainConfig, path)
    assert cfg.data and cfg.max_steps > 0


def test_shipped_configs_exist():
    assert {p.name for p in CONFIGS} >= {"tiny.yaml", "lora_chat.yaml"}


@pytest.mark.parametrize("overrides,needle", [
    (["optimizer=lomo", "grad_accum=2"], "grad_accum"),
    (["optimizer=adalomo", "grad_accum=4"], "grad_accum"),
    (["optimizer=lomo", "parallel=ddp"], "parallel"),
    (["optimizer=adalomo", "parallel=fsdp"], "parallel"),
    (["optimizer=sophia", "parallel=ddp"], "parallel"),
    (["optimizer=sophia", "grad_checkpointing=true"], "grad_checkpointing"),
    (["parallel=tp", "peft.method=lora"], "peft.method"),
    (["parallel=dp=2,tp=3", "model=tiny:hidden=64,heads=4"], "tp=3"),
    (["parallel=pp", "peft.method=prefix"], "peft.method"),
    (["parallel=pp", "batch_size=3", "pp_microbatches=2"], "batch_size"),
    (["parallel=dp=2,pp=2"], "parallel"),
    (["optimizer=adam"], "optimizer"),
    (["lr=0"], "lr"),
    (["lr=.nan"], "key 'lr' must be a finite number, got nan"),
    (["weight_decay=-1"], "key 'weight_decay' must be >= 0"),
    (["max_grad_norm=.nan"], "key 'max_grad_norm' must be a finite number, got nan"),
    (["lr='inf'"], "key 'lr' must be a finite number, got 'inf'"),
    (["model=tiny:layers=-1"], "key 'model': tiny option 'layers' must be >= 1, got -1"),
    (["model=tiny:layers=two"], "tiny option 'layers' expects an integer"),
    (["model=tiny:hidden=64,heads=3"], "key 'model': tiny option 'hidden' (64) must be divisible"),
    (["model=tiny:tie_embeddings=maybe"], "tiny option 'tie_embeddings' expects true or false"),
    (["min_lr_ratio=1.0"], "min_lr_ratio"),
    (["peft.method=prompt", "grad_checkpointing=true"], "grad_checkpointing"),
    (["peft.merge=true", "peft.method=ia3"], "merge"),
    (["precision=fp16"], "precision"),
    (["parallel=pp", "save_every=10"], "save_every"),
    (["parallel=pp", "eval_every=5"], "eval_every"),
    (["optimizer=sophia", "parallel=tp"], "parallel"),
    (["unknown_key=1"], "unknown_key"),
])
def test_impossible_combinations_are_rejected(overrides, needle):
    with pytest.raises(ConfigError) as err:
        load_config(TrainConfig, None, overrides)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_tp_rejects_an_unsupported_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "num_attention_heads": 4}))
    with pytest.raises(ConfigError, match="tensor parallel supports Llama-style"):
        load_config(TrainConfig, None, [f"model={tmp_path}", "parallel=tp"])


def test_parallel_spec_parsing():
    assert parse_parallel("ddp", 4).dp == 4
    assert parse_parallel("fsdp", 2).fsdp == 2
    mesh = parse_parallel("dp=2,tp=2")
    assert (mesh.fsdp, mesh.tp, mesh.world, mesh.mode) == (2, 2, 4, "mesh")
    assert parse_parallel("none").world == 1


def test_cli_trains_tiny_config_with_overrides_and_out(cli, tmp_path):
    out = tmp_path / "run"
    proc = cli("train", "configs/train/tiny.yaml", "max_steps=4", "eval_every=2", "progress=false", "--out", str(out),
               env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    for r in steps:
        assert {"step", "loss", "lr", "grad_norm", "tokens_per_s", "peak_mem_mb", "step_time"} <= set(r)
        assert r["tokens_per_s"] > 0 and r["samples_per_s"] > 0 and r["peak_mem_mb"] > 0
    assert any("eval_loss" in r for r in rows)
    results = json.loads((out / "results.json").read_text())
    assert results["steps"] == 4 and (out / "model" / "model.safetensors").is_file()
    assert (out / "config.yaml").is_file() and (out / "report.md").is_file()


def test_cli_bad_override_is_one_line(cli):
    proc = cli("train", "configs/train/tiny.yaml", "optimizer=lomo", "grad_accum=2")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "grad_accum" in proc.stderr
    proc = cli("train", "configs/train/missing.yaml")
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_deepspeed_backend_needs_its_extra(tmp_path):
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        from modelworks.train import fit

        with pytest.raises(UserError, match=r"modelworks\[deepspeed\]"):
            fit(load_config(TrainConfig, None, ["parallel=deepspeed", "data=[builtin:text]", f"out={tmp_path}"]))
    else:  # pragma: no cover - only where the extra is installed
        pytest.skip("deepspeed is installed; this checks the message shown without it")


def test_cuda_without_a_gpu_is_a_user_error(tmp_path, monkeypatch):
    import torch

    from modelworks.train import fit

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="key 'device' is 'cuda' but torch sees no CUDA GPU"):
        fit(load_config(TrainConfig, None, ["device=cuda", "data=[builtin:text]", f"out={tmp_path / 'run'}"]))
    assert not (tmp_path / "run").exists()


def test_tensor_parallel_rejects_a_model_without_llama_blocks(monkeypatch):
    """The runtime check behind the config check: a GPT-2 model has no q/k/v/o + gate/up/down blocks."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from transformers import GPT2Config, GPT2LMHeadModel

    from modelworks.train.distributed import apply_tensor_parallel

    for k, v in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29541", "RANK": "0", "WORLD_SIZE": "1"}.items():
        monkeypatch.setenv(k, v)
    dist.init_process_group("gloo")
    try:
        model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, bos_token_id=0,
                                           eos_token_id=0))
        with pytest.raises(UserError, match="Llama-style"):
            apply_tensor_parallel(model, init_device_mesh("cpu", (1,)))
    finally:
        dist.destroy_process_group()
