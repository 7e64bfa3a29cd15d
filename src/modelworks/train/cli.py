"""`modelworks train CONFIG [key=value ...]` and `modelworks train estimate ...`.

``modelworks train X ...`` where X is not a subcommand name runs ``modelworks train run X ...``.
Under torchrun the same command trains distributed: ``torchrun --nproc-per-node 2 -m modelworks train
configs/train/tiny.yaml parallel=ddp``.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup


class _DefaultRun(TyperGroup):
    """A group whose first argument, when it is not a subcommand, is the config of the default `run`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultRun,
    help="CoLLiE training engine: optimizers, PEFT, 3D parallelism, monitors, resume. "
         "Usage: modelworks train CONFIG \\[key=value ...] [--out DIR] | modelworks train estimate ...",
    no_args_is_help=True,
)


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="A YAML config, e.g. configs/train/tiny.yaml."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides (a.b=value for nested keys)."),
    out: Path = typer.Option(None, "--out", help="Run folder (default runs/train-<UTC time>)."),
) -> None:
    """Train a model from CONFIG plus key=value overrides."""
    from rich.console import Console

    from modelworks.config import load_config
    from modelworks.report import fmt, rich_table
    from modelworks.train import TrainConfig, fit

    items = list(overrides or [])
    if out is not None:
        items.append(f"out={out}")
    cfg = load_config(TrainConfig, config, items)
    if not cfg.data:  # fit() itself also takes a dataset from Python callers; the command needs the key
        from modelworks.errors import ConfigError

        raise ConfigError(f"{config}: key 'data' is empty; set it to JSONL file(s) or builtin:text|chat|instruction")
    result = fit(cfg)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return
    rows = [(k, fmt(v, 4) if isinstance(v, float) else v) for k, v in result.metrics.items()]
    Console().print(rich_table("modelworks train", ["metric", "value"], rows))
    Console().print(f"run folder: {result.out_dir}")


@app.command("estimate")
def estimate_cmd(
    params: float = typer.Option(..., "--params", help="Number of parameters, e.g. 7e9."),
    optimizer: str = typer.Option("adamw", "--optimizer"),
    peft: str = typer.Option("none", "--peft", help="none or lora."),
    dp: int = typer.Option(1, "--dp", help="Data-parallel ranks."),
    zero: int = typer.Option(0, "--zero", help="ZeRO stage over the dp ranks: 0 (DDP), 1, 2, 3 (FSDP)."),
    precision: str = typer.Option("bf16", "--precision", help="fp32, bf16 or fp16."),
    batch: int = typer.Option(1, "--batch"),
    seq: int = typer.Option(2048, "--seq"),
    grad_checkpointing: bool = typer.Option(False, "--grad-checkpointing"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Expected training memory per device and component (weights, gradients, optimizer states, activations)."""
    import json

    from rich.console import Console

    from modelworks.report import rich_table
    from modelworks.train.estimate import estimate_memory

    est = estimate_memory(params, optimizer=optimizer, peft=peft, dp=dp, zero=zero, precision=precision,
                          batch=batch, seq=seq, grad_checkpointing=grad_checkpointing)
    if as_json:
        print(json.dumps({k: v / 2**20 for k, v in est.as_dict().items() if k not in ("params", "trainable_params")}
                         | {"params": est.params, "trainable_params": est.trainable_params}))
        return
    rows = [(name, f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.1f} MiB") for name, mib in est.rows()]
    title = f"training memory per device: {params:.3g} params, {optimizer}, peft={peft}, dp={dp}, zero={zero}"
    Console().print(rich_table(title, ["component", "memory"], rows))
