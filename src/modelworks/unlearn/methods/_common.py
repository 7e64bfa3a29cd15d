"""Pieces the method losses share: per-sequence NLL and the retain term."""

from __future__ import annotations

from typing import Any

from modelworks.unlearn.qa import answer_nll


def mean_nll(model, batch: dict[str, Any]):
    """Mean over sequences of the per-token mean answer NLL (the usual LM loss)."""
    total, count = answer_nll(model, batch)
    return (total / count.clamp(min=1)).mean()


def sequence_nll(model, batch: dict[str, Any]):
    """Summed answer NLL per sequence (what DPO/NPO compare against the reference)."""
    return answer_nll(model, batch)[0]


def kl_to_ref(model, ref_model, batch: dict[str, Any]):
    """KL(ref ‖ model) over the next-token distributions of every position (open-unlearning's retain KL)."""
    import torch
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    with torch.no_grad():
        ref_logits = ref_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    mask = batch["attention_mask"].bool()
    logp = F.log_softmax(logits[mask].float(), -1)
    ref_logp = F.log_softmax(ref_logits[mask].float(), -1)
    return F.kl_div(logp, ref_logp, reduction="batchmean", log_target=True)


def retain_term(kind: str, model, ref_model, batch: dict[str, Any]):
    if kind == "nll":
        return mean_nll(model, batch["retain"])
    if kind == "kl":
        return kl_to_ref(model, ref_model, batch["retain"])
    return None


def combine(forget, retain, cfg) -> tuple[Any, dict[str, float]]:
    logs = {"forget_term": float(forget.detach())}
    loss = cfg.forget_weight * forget
    if retain is not None:
        logs["retain_term"] = float(retain.detach())
        loss = loss + cfg.retain_weight * retain
    return loss, logs
