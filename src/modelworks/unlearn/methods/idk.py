"""IdK (TOFU's "preference optimisation"): NLL on forget questions answered with "I don't know" + retain NLL."""

from __future__ import annotations

from modelworks.unlearn.methods import register_method
from modelworks.unlearn.methods._common import combine, mean_nll, retain_term


@register_method("idk", target="idk", default_retain="nll", probe="target_down")
def idk_loss(model, batch, ref_model, cfg, retain_kind: str = "nll"):
    return combine(mean_nll(model, batch["target"]), retain_term(retain_kind, model, ref_model, batch), cfg)
