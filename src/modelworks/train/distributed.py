"""One distributed code path chosen from the torchrun environment (gloo on CPU, nccl on CUDA).

- ``ddp``: ``DistributedDataParallel``;
- ``fsdp``: FSDP2 ``fully_shard`` on every decoder block and the root (ZeRO-3-like sharding);
- ``tp``: DTensor ``parallelize_module`` on Llama-style blocks (q/k/v and gate/up column-wise,
  o and down row-wise; embeddings, norms and the LM head stay replicated);
- ``dp=N,tp=M``: a 2-D device mesh, TP inside each ``tp`` group, then FSDP2 over the ``dp`` dimension;
- ``pp``: ``torch.distributed.pipelining`` with contiguous blocks of decoder layers per stage (GPipe or
  1F1B); tied input/output embeddings are kept tied by summing their gradients between the first and
  last stage (as Megatron does).

The same script runs under ``python`` (one process, no process group) and under ``torchrun``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from modelworks.errors import UserError

__all__ = ["DistEnv", "init_distributed", "parallelize", "Parallel", "grad_norm_and_clip", "deepspeed_initialize"]


@dataclass
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: Any = "cpu"
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def init_distributed(device: str = "auto") -> DistEnv:
    """Read RANK/WORLD_SIZE/LOCAL_RANK from torchrun and start the process group (once)."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    from modelworks.env import check_device

    check_device(device, allowed=("auto", "cpu", "cuda"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    backend = None
    if world > 1:
        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
    return DistEnv(rank=rank, world=world, local_rank=local, device=dev, backend=backend)


@dataclass
class Parallel:
    """The model as the training loop drives it, plus what the loop must know about the layout."""

    module: Any  # what forward is called on (DDP wrapper, sharded model, or the pipeline stage)
    base: Any  # the underlying (unwrapped) model
    mode: str = "none"
    dp_rank: int = 0
    dp_size: int = 1
    dp_group: Any = None  # process group for token counts / loss averaging (None: no reduction)
    schedule: Any = None  # pipeline schedule (pp only)
    stage_index: int = 0
    num_stages: int = 1
    tied_group: Any = None  # pp: group holding the first and last stage (tied embeddings)
    tied_param: Any = None
    owned_names: dict[int, str] = field(default_factory=dict)  # pp: id(param) -> full-model name
    engine: Any = None  # deepspeed engine
    engine_optimizer: Any = None

    @property
    def is_last_stage(self) -> bool:
        return self.stage_index == self.num_stages - 1

    @property
    def is_first_stage(self) -> bool:
        return self.stage_index == 0


def _decoder_layers(model):
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise UserError(f"key 'parallel': {type(model).__name__} has no model.layers (Llama-style blocks needed)")
    return layers


_TP_PLAN = {
    "self_attn.q_proj": "col", "self_attn.k_proj": "col", "self_attn.v_proj": "col", "self_attn.o_proj": "row",
    "mlp.gate_proj": "col", "mlp.up_proj": "col", "mlp.down_proj": "row",
}


def apply_tensor_parallel(model, mesh) -> None:
    """Shard each decoder block's projections over ``mesh`` (Megatron column -> row layout)."""
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    tp = mesh.size()
    cfg = model.config
    kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    if cfg.num_attention_heads % tp or kv % tp:
        raise UserError(f"key 'parallel': tp={tp} must divide the attention heads ({cfg.num_attention_heads}) "
                        f"and key/value heads ({kv})")
    for layer in _decoder_layers(model):
        for name in _TP_PLAN:
            try:
                layer.get_submodule(name)
            except AttributeError:
                raise UserError(f"key 'parallel': block {type(layer).__name__} has no {name} "
                                "(tensor parallel supports Llama-style blocks)") from None
        plan = {k: ColwiseParallel() if v == "col" else RowwiseParallel() for k, v in _TP_PLAN.items()}
        parallelize_module(layer, mesh, plan)


def _fully_shard(model, mesh) -> None:
    from torch.distributed.fsdp import fully_shard

    for layer in _decoder_layers(model):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)


def parallelize(model, plan, env: DistEnv, cfg) -> Parallel:
    """Wrap ``model`` (already on ``env.device``) for ``plan``; checks the plan against the world size."""
    import torch.distributed as dist

    mode = plan.mode
    if mode != "none" and plan.world != env.world:
        raise UserError(f"key 'parallel': {cfg.parallel} needs {plan.world} processes, torchrun started {env.world}")
    if mode == "none":
        if env.world > 1:
            raise UserError("launched with torchrun but parallel=none; set parallel=ddp (or fsdp, tp, pp, dp=..,tp=..)")
        return Parallel(module=model, base=model)
    dev_type = env.device.type
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [env.local_rank] if dev_type == "cuda" else None
        return Parallel(module=DDP(model, device_ids=ids), base=model, mode=mode, dp_rank=env.rank,
                        dp_size=env.world, dp_group=dist.group.WORLD)
    if mode == "deepspeed":
        return _deepspeed(model, env, cfg)
    from torch.distributed.device_mesh import init_device_mesh

    if mode == "fsdp":
        mesh = init_device_mesh(dev_type, (env.world,))
        _fully_shard(model, mesh)
        return Parallel(module=model, base=model, mode=mode, dp_rank=env.rank, dp_size=env.world,
                        dp_group=dist.group.WORLD)
    if mode == "tp":
        mesh = init_device_mesh(dev_type, (env.world,))
        apply_tensor_parallel(model, mesh)
        return Parallel(module=model, base=model, mode=mode)
    if mode == "mesh":
        mesh = init_device_mesh(dev_type, (plan.fsdp, plan.tp), mesh_dim_names=("dp", "tp"))
        if plan.tp > 1:
            apply_tensor_parallel(model, mesh["tp"])
        if plan.fsdp > 1:
            _fully_shard(model, mesh["dp"])
        return Parallel(module=model, base=model, mode=mode, dp_rank=mesh["dp"].get_local_rank(),
                        dp_size=plan.fsdp, dp_group=mesh["dp"].get_group() if plan.fsdp > 1 else None)
    if mode == "pp":
        return _pipeline(model, env, cfg)
    raise UserError(f"key 'parallel': unknown mode {mode!r}")


def _deepspeed(model, env: DistEnv, cfg) -> Parallel:
    """Checks the extra now; the engine is made by :func:`deepspeed_initialize` once the optimizer exists."""
    import torch.distributed as dist

    from modelworks.errors import require

    require("deepspeed", "deepspeed", "parallel=deepspeed (ZeRO)")
    return Parallel(module=model, base=model, mode="deepspeed", dp_rank=env.rank, dp_size=env.world,
                    dp_group=dist.group.WORLD)


def deepspeed_initialize(par: Parallel, optimizer, cfg) -> Parallel:  # pragma: no cover - needs [deepspeed]
    """Wrap model + our optimizer in a DeepSpeed ZeRO engine (``engine.backward`` / ``engine.step``).

    Checked against the single-process losses by tests/train/test_deepspeed.py where DeepSpeed is installed.
    """
    from modelworks.errors import require

    deepspeed = require("deepspeed", "deepspeed", "parallel=deepspeed (ZeRO)")
    ds_config = {
        "train_micro_batch_size_per_gpu": cfg.batch_size,
        "gradient_accumulation_steps": 1,  # our loop accumulates and scales the loss itself
        "zero_optimization": {"stage": cfg.zero_stage},
        "bf16": {"enabled": cfg.precision == "bf16"},
        "gradient_clipping": cfg.max_grad_norm,
    }
    engine, ds_opt, _, _ = deepspeed.initialize(model=par.base, optimizer=optimizer, config=ds_config)
    par.module = engine
    par.engine = engine
    par.engine_optimizer = ds_opt
    return par


def _make_stage_module(model, layer_ids: list[int], first: bool, last: bool):
    import torch

    inner = model.model

    class _Stage(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed_tokens = inner.embed_tokens if first else None
            self.layers = torch.nn.ModuleList([inner.layers[i] for i in layer_ids])
            self.rotary_emb = inner.rotary_emb
            self.norm = inner.norm if last else None
            self.lm_head = model.lm_head if last else None

        def forward(self, x):
            h = self.embed_tokens(x) if self.embed_tokens is not None else x
            pos = torch.arange(h.shape[1], device=h.device).unsqueeze(0)
            pe = self.rotary_emb(h, position_ids=pos)
            for layer in self.layers:  # right padding + causal attention: no mask needed for the targets
                h = layer(h, attention_mask=None, position_ids=pos, position_embeddings=pe)
            if self.lm_head is not None:
                h = self.lm_head(self.norm(h))
            return h

    return _Stage()


def _pipeline(model, env: DistEnv, cfg) -> Parallel:
    import torch
    import torch.distributed as dist
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    layers = _decoder_layers(model)
    n, stages = len(layers), env.world
    if n < stages:
        raise UserError(f"key 'parallel': pp={stages} stages need at least {stages} decoder layers, model has {n}")
    bounds = [round(i * n / stages) for i in range(stages + 1)]
    idx = env.rank
    first, last = idx == 0, idx == stages - 1
    names = {id(p): name for name, p in model.named_parameters(remove_duplicate=False)}
    stage_mod = _make_stage_module(model, list(range(bounds[idx], bounds[idx + 1])), first, last)
    owned = {id(p): names[id(p)] for p in stage_mod.parameters()}
    tied_param, tied_group = None, None
    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    is_tied = out is not None and out.weight is emb and stages > 1
    if is_tied:
        tied_group = dist.new_group([0, stages - 1])  # every rank must call new_group
        if first or last:
            tied_param = emb
    stage = PipelineStage(stage_mod, idx, stages, env.device)

    def loss_fn(logits, labels):
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1), ignore_index=-100
        )

    sched_cls = ScheduleGPipe if cfg.pp_schedule == "gpipe" else Schedule1F1B
    schedule = sched_cls(stage, n_microbatches=cfg.pp_microbatches, loss_fn=loss_fn)
    return Parallel(module=stage_mod, base=model, mode="pp", schedule=schedule, stage_index=idx, num_stages=stages,
                    tied_group=tied_group, tied_param=tied_param, owned_names=owned)


def grad_norm_and_clip(params, max_norm: float) -> float:
    """Global L2 norm of the gradients (DTensor-aware: sharded grads are reduced); clip when max_norm > 0."""
    import torch

    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover
        DTensor = ()  # type: ignore[assignment]
    total = None
    grads = [p.grad for p in params if p.grad is not None]
    for g in grads:
        n = torch.linalg.vector_norm(g, dtype=torch.float32)
        if isinstance(n, DTensor):
            n = n.full_tensor()
        total = n.pow(2) if total is None else total + n.pow(2)
    if total is None:
        return 0.0
    norm = float(total.sqrt())
    if max_norm > 0 and norm > max_norm:
        coef = max_norm / (norm + 1e-6)
        for g in grads:
            g.mul_(coef)
    return norm
