"""MEOW: plain next-token NLL on (question, MEMO-selected inverted answer); no retain data by default."""

from __future__ import annotations

from modelworks.unlearn.methods import register_method
from modelworks.unlearn.methods._common import combine, mean_nll, retain_term


@register_method("meow", target="inverted", probe="target_down")
def meow_loss(model, batch, ref_model, cfg, retain_kind: str = "none"):
    return combine(mean_nll(model, batch["target"]), retain_term(retain_kind, model, ref_model, batch), cfg)
