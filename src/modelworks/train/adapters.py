"""PEFT adapters through the ``peft`` library: LoRA, prefix tuning, prompt tuning, P-tuning, IA3.

``apply_peft`` freezes the base model and adds the adapter; ``save_adapter`` writes
``adapter_model.safetensors`` + ``adapter_config.json``; ``load_adapter`` puts it back on a base model;
``merge_lora`` folds LoRA into the base weights and returns a plain ``transformers`` model.
"""

from __future__ import annotations

from pathlib import Path

from modelworks.errors import UserError

__all__ = ["apply_peft", "save_adapter", "load_adapter", "merge_lora", "trainable_parameter_names", "peft_config"]

_ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP = ("gate_proj", "up_proj", "down_proj")


def _linear_names(model) -> set[str]:
    import torch

    return {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def _targets(model, spec) -> list[str]:
    if spec.target_modules:
        return list(spec.target_modules)
    names = _linear_names(model)
    found = [n for n in _ATTN + _MLP if n in names]
    if not found:  # GPT-2 style
        found = [n for n in ("c_attn", "c_proj", "c_fc") if n in {k.rsplit(".", 1)[-1] for k, _ in model.named_modules()}]
    if not found:
        raise UserError("key 'peft.target_modules': no known projection names in this model; list them explicitly")
    return found


def peft_config(model, spec):
    """The ``peft`` config object for a :class:`~modelworks.train.config.PeftSpec`."""
    import peft

    task = peft.TaskType.CAUSAL_LM
    if spec.method == "lora":
        return peft.LoraConfig(task_type=task, r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                               target_modules=_targets(model, spec))
    if spec.method == "ia3":
        targets = _targets(model, spec)
        ff = list(spec.feedforward_modules) or [t for t in targets if t in ("down_proj", "c_proj", "c_fc")]
        return peft.IA3Config(task_type=task, target_modules=targets, feedforward_modules=ff)
    if spec.method == "prefix":
        return peft.PrefixTuningConfig(task_type=task, num_virtual_tokens=spec.num_virtual_tokens)
    if spec.method == "prompt":
        return peft.PromptTuningConfig(task_type=task, num_virtual_tokens=spec.num_virtual_tokens)
    if spec.method == "p_tuning":
        return peft.PromptEncoderConfig(task_type=task, num_virtual_tokens=spec.num_virtual_tokens,
                                        encoder_hidden_size=spec.encoder_hidden_size)
    raise UserError(f"key 'peft.method': unknown method '{spec.method}'")


def apply_peft(model, spec):
    """Wrap ``model`` with the adapter of ``spec`` (base frozen); ``method: none`` returns it unchanged."""
    if spec.method == "none":
        return model
    import peft

    return peft.get_peft_model(model, peft_config(model, spec))


def trainable_parameter_names(model) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def save_adapter(model, out_dir: str | Path) -> Path:
    """Adapter weights as safetensors plus its config (``peft`` format, loadable by ``PeftModel``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    return out


def load_adapter(base_model, adapter_dir: str | Path, trainable: bool = False):
    """Put a saved adapter back on ``base_model``."""
    import peft

    p = Path(adapter_dir)
    if not (p / "adapter_config.json").is_file():
        raise UserError(f"{p}: not an adapter folder (no adapter_config.json)")
    return peft.PeftModel.from_pretrained(base_model, p, is_trainable=trainable)


def merge_lora(model):
    """Fold LoRA weights into the base projections; returns the plain base model."""
    import peft

    if not isinstance(model, peft.PeftModel):
        raise UserError("merge_lora needs a model with a LoRA adapter")
    return model.merge_and_unload()
