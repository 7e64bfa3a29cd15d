"""NPO (Zhang et al. 2024): DPO with only a rejected answer, the true forget answer; + retain NLL."""

from __future__ import annotations

from modelworks.unlearn.methods import register_method
from modelworks.unlearn.methods._common import combine, retain_term
from modelworks.unlearn.methods.dpo import dpo_term


@register_method("npo", needs_ref=True, default_retain="nll")
def npo_loss(model, batch, ref_model, cfg, retain_kind: str = "nll"):
    forget = dpo_term(model, ref_model, None, batch["forget"], cfg.beta)
    return combine(forget, retain_term(retain_kind, model, ref_model, batch), cfg)
