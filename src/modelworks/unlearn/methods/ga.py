"""Gradient ascent on the forget answers; ``gd`` adds NLL on retain data, ``kl`` a KL term to the reference."""

from __future__ import annotations

from modelworks.unlearn.methods import register_method
from modelworks.unlearn.methods._common import combine, mean_nll, retain_term


def _ascent(model, batch, ref_model, cfg, kind: str):
    return combine(-mean_nll(model, batch["forget"]), retain_term(kind, model, ref_model, batch), cfg)


@register_method("ga")
def ga_loss(model, batch, ref_model, cfg, retain_kind: str = "none"):
    return _ascent(model, batch, ref_model, cfg, retain_kind)


@register_method("gd", default_retain="nll")
def gd_loss(model, batch, ref_model, cfg, retain_kind: str = "nll"):
    return _ascent(model, batch, ref_model, cfg, retain_kind)


@register_method("kl", default_retain="kl")
def kl_loss(model, batch, ref_model, cfg, retain_kind: str = "kl"):
    return _ascent(model, batch, ref_model, cfg, retain_kind)
