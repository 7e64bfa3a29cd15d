"""CoLLiE training engine: optimizers, PEFT, 3D parallelism, monitors, resume.

Train from a config (``modelworks train configs/train/tiny.yaml max_steps=5``) or from Python::

    from modelworks.train import TrainConfig, fit

    result = fit(TrainConfig(model="tiny", data=["builtin:text"], max_steps=20, out="runs/demo"))
    result.model, result.tokenizer, result.out_dir, result.metrics["final_loss"]

Another capability trains through the same engine with its own model, data and loss. Examples may be
raw records (tokenized with ``data_format``), tokenized examples ``{"input_ids", "labels"}``, or dicts of
tokenized examples, which the collator pads part by part::

    def npo_like(model, batch):
        forget, retain = batch["forget"], batch["retain"]       # each: input_ids, attention_mask, labels
        lf = model(**forget).loss
        lr = model(**retain).loss
        return -lf + lr, {"forget_loss": lf.item(), "retain_loss": lr.item()}   # (loss, logs) or just loss

    items = [{"forget": tokenized_f[i], "retain": tokenized_r[i]} for i in range(n)]
    cfg = TrainConfig(optimizer="adamw", lr=1e-5, batch_size=4, max_steps=50, out=str(run_dir))
    result = fit(cfg, model=model, tokenizer=tok, train_dataset=items, loss_fn=npo_like)

The default batch (:func:`collate`) is ``{"input_ids", "attention_mask", "labels"}`` (LongTensor [B, T],
right padded; ``labels`` unshifted with -100 on prompt and padding tokens), so ``model(**batch).loss``
is the usual HF loss. With ``loss_fn`` the reported loss is the mean over micro-batches (and ranks);
without it, the loss is the token mean over the whole global batch.
"""

from modelworks.train.adapters import apply_peft, load_adapter, merge_lora, save_adapter
from modelworks.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from modelworks.train.config import PeftSpec, TrainConfig, parse_parallel
from modelworks.train.data import IGNORE_INDEX, builtin_records, collate, read_records, tokenize_records
from modelworks.train.estimate import MemoryEstimate, estimate_memory
from modelworks.train.optimizers import OPTIMIZER_REGISTRY, build_optimizer, register_optimizer
from modelworks.train.trainer import FitResult, build_scheduler, evaluate_loss, fit, token_loss_sum

__all__ = [
    "TrainConfig",
    "PeftSpec",
    "parse_parallel",
    "fit",
    "FitResult",
    "build_optimizer",
    "register_optimizer",
    "OPTIMIZER_REGISTRY",
    "build_scheduler",
    "token_loss_sum",
    "evaluate_loss",
    "collate",
    "tokenize_records",
    "read_records",
    "builtin_records",
    "IGNORE_INDEX",
    "apply_peft",
    "save_adapter",
    "load_adapter",
    "merge_lora",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "estimate_memory",
    "MemoryEstimate",
]
