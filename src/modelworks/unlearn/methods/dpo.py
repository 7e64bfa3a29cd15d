"""DPO with the "I don't know" answer as the preferred one and the true answer as the rejected one.

In open-unlearning's form: win_log_ratio = NLL_ref(win) - NLL_θ(win), lose_log_ratio = NLL_ref(lose) - NLL_θ(lose) (summed token
NLLs), loss = -(2/β)·mean logσ(β·(win_log_ratio - lose_log_ratio)), plus the retain term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modelworks.unlearn.methods import register_method
from modelworks.unlearn.methods._common import combine, retain_term, sequence_nll


def dpo_term(model, ref_model, win, lose, beta: float):
    with torch.no_grad():
        ref_win = sequence_nll(ref_model, win) if win is not None else None
        ref_lose = sequence_nll(ref_model, lose)
    win_ratio = (ref_win - sequence_nll(model, win)) if win is not None else 0.0
    lose_ratio = ref_lose - sequence_nll(model, lose)
    return -2.0 / beta * F.logsigmoid(beta * (win_ratio - lose_ratio)).mean()


@register_method("dpo", needs_ref=True, target="idk", default_retain="nll")
def dpo_loss(model, batch, ref_model, cfg, retain_kind: str = "nll"):
    forget = dpo_term(model, ref_model, batch["target"], batch["forget"], cfg.beta)
    return combine(forget, retain_term(retain_kind, model, ref_model, batch), cfg)
