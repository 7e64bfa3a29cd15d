"""TOFU metrics, computed exactly as the official TOFU code (``aggregate_eval_stat.py``) does.

Input is a TOFU eval log: a mapping ``{"eval_log.json": {...}, "eval_log_forget.json": {...},
"eval_real_author_wo_options.json": {...}, "eval_real_world_wo_options.json": {...}}`` whose
sections hold per-index fields ``avg_gt_loss``, ``avg_paraphrased_loss``, ``average_perturb_loss``
(a list per index) and ``rougeL_recall``. Losses are mean token NLLs of an answer given the
templated question, so ``exp(-loss)`` is the length-normalised answer probability.

* **Probability**: retain / forget: mean of ``exp(-gt_loss)``; real authors / world facts: mean of
  ``p(answer) / (p(answer) + sum_j p(perturbed_j))``.
* **ROUGE**: mean ROUGE-L recall of the greedy generation.
* **Truth ratio** per sample, official formula: ``R = exp(-mean_j L(pert_j)) / exp(-L(para))`` (a
  geometric mean of the perturbed answers' probabilities). Aggregate: forget ``mean(min(R, 1/R))``,
  the others ``mean(max(0, 1 - R))``.
  ``variant="meow"`` is MEOW's ``meow/utils.py`` variant: the *arithmetic* mean of the perturbed
  probabilities, ``R = mean_j exp(-L(pert_j)) / exp(-L(para))``. By Jensen's inequality it is never
  smaller than the official R, so retain-side truth ratios and Model Utility come out lower
  (Llama-2 TOFU full model: MU 0.5859 instead of 0.6227).
* **Model Utility**: harmonic mean (``scipy.stats.hmean``) of the 9 numbers {Prob, ROUGE, Truth
  ratio} x {retain, real authors, world facts}.
* **Forget Quality**: p-value of ``scipy.stats.ks_2samp`` between the per-sample statistics
  ``exp(mean_j L(pert_j) - L(para))`` on the forget set of the evaluated model and of the retain
  model (always the official geometric form, as in TOFU and MEOW).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelworks.errors import UserError
from modelworks.jsonl import read_json, shown

__all__ = [
    "SECTIONS",
    "FIELDS",
    "load_eval_log",
    "truth_ratio",
    "truth_ratio_score",
    "forget_quality",
    "model_utility",
    "tofu_metrics",
]

# eval-log section -> our short name
SECTIONS = {
    "eval_log.json": "retain",
    "eval_real_author_wo_options.json": "real_authors",
    "eval_real_world_wo_options.json": "world_facts",
    "eval_log_forget.json": "forget",
}
FIELDS = ("avg_gt_loss", "avg_paraphrased_loss", "average_perturb_loss", "rougeL_recall")
TruthRatioVariant = Literal["tofu", "meow"]


def load_eval_log(path: str | Path, need_forget: bool = True) -> dict[str, dict[str, Any]]:
    """Read an ``eval_log_aggregated.json``-style file, checking sections, fields, indices and values.

    Every field of a section must hold the same index keys (values are matched by index, never by
    position), each value a finite number, or for ``average_perturb_loss`` a non-empty list of
    finite numbers of one length per section. Errors are one line naming file, section, field, index.
    """
    p = Path(path)
    data = read_json(p, "eval log")
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a JSON object with sections {', '.join(SECTIONS)}")
    for section in SECTIONS:
        if section not in data:
            if need_forget or section != "eval_log_forget.json":
                raise UserError(f"{p}: missing section '{section}' (found: {', '.join(data) or 'none'})")
            continue
        for field in FIELDS:
            values = data[section].get(field) if isinstance(data[section], dict) else None
            if not isinstance(values, dict) or not values:
                raise UserError(f"{p}: section '{section}' has no per-index mapping '{field}'")
        _check_section(p, section, data[section])
    return data


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_section(p: Path, section: str, sec: dict[str, Any]) -> None:
    first = FIELDS[0]
    index = sec[first]
    n_pert = None
    for field in FIELDS:
        where = f"{p}: section '{section}' field '{field}'"
        keys = sec[field]
        if keys.keys() != index.keys():
            extra = next((k for k in keys if k not in index), None)
            if extra is not None:
                raise UserError(f"{where} has index '{extra}', which '{first}' lacks (fields must share their indices)")
            lacking = next(k for k in index if k not in keys)
            raise UserError(f"{where} lacks index '{lacking}', which '{first}' has (fields must share their indices)")
        for i, v in keys.items():
            if field != "average_perturb_loss":
                if not _is_number(v):
                    raise UserError(f"{where} index '{i}': expected a finite number, got {shown(v)}")
                continue
            if not (isinstance(v, list) and v and all(_is_number(x) for x in v)):
                raise UserError(f"{where} index '{i}': expected a non-empty list of finite numbers, got {shown(v)}")
            if n_pert is None:
                n_pert = (i, len(v))
            elif len(v) != n_pert[1]:
                raise UserError(f"{where} index '{i}' has {len(v)} values, index '{n_pert[0]}' has {n_pert[1]} "
                                "(every index needs the same number of perturbed answers)")



def _values(section: dict[str, Any], field: str) -> np.ndarray:
    # aligned by index key: every field is read in the index order of the first field present
    order = section[next(f for f in FIELDS if f in section)]
    values = section[field]
    return np.array([values[i] for i in order], dtype=np.float64)


def truth_ratio(para_loss: Any, perturb_losses: Any, variant: TruthRatioVariant = "tofu") -> np.ndarray:
    """Per-sample truth ratio ``R = P(perturbed) / P(paraphrased)`` from mean token NLLs.

    ``perturb_losses`` has one row per sample and one column per perturbed answer.
    """
    para = np.asarray(para_loss, dtype=np.float64)
    pert = np.asarray(perturb_losses, dtype=np.float64)
    if variant == "tofu":
        return 1.0 / np.exp(pert.mean(-1) - para)
    if variant == "meow":
        return np.exp(-pert).mean(-1) / np.exp(-para)
    raise UserError(f"truth-ratio variant '{variant}' is not one of tofu, meow")


def truth_ratio_score(ratios: Any, forget: bool) -> float:
    """The reported truth ratio: forget ``mean(min(R, 1/R))``, otherwise ``mean(max(0, 1 - R))``."""
    r = np.asarray(ratios, dtype=np.float64)
    if forget:
        return float(np.mean(np.minimum(r, 1.0 / r)))
    return float(np.mean(np.maximum(0.0, 1.0 - r)))


def _ks_stat(section: dict[str, Any]) -> np.ndarray:
    # exactly the official per-sample statistic: exp(mean_j L(pert_j) - L(para)) = 1 / R
    return np.exp(_values(section, "average_perturb_loss").mean(axis=-1) - _values(section, "avg_paraphrased_loss"))


def forget_quality(model_forget: dict[str, Any], retain_forget: dict[str, Any]) -> dict[str, float]:
    """KS test between the forget-set truth-ratio statistics of a model and of the retain model."""
    from scipy.stats import ks_2samp

    res = ks_2samp(_ks_stat(model_forget), _ks_stat(retain_forget))
    return {"forget_quality": float(res.pvalue), "ks_statistic": float(res.statistic)}


def _section_numbers(name: str, section: dict[str, Any], variant: TruthRatioVariant) -> dict[str, float]:
    gt = np.exp(-_values(section, "avg_gt_loss"))
    if name in ("retain", "forget"):
        prob = float(np.mean(gt))
    else:
        pert = np.exp(-_values(section, "average_perturb_loss"))
        prob = float(np.mean(gt / np.concatenate([gt[:, None], pert], axis=1).sum(-1)))
    rouge = float(np.mean(_values(section, "rougeL_recall")))
    ratios = truth_ratio(_values(section, "avg_paraphrased_loss"), _values(section, "average_perturb_loss"), variant)
    return {"prob": prob, "rouge": rouge, "truth_ratio": truth_ratio_score(ratios, forget=name == "forget")}


def model_utility(components: dict[str, float]) -> float:
    """Harmonic mean of the 9 non-forget numbers (``<set>_{prob,rouge,truth_ratio}``)."""
    from scipy.stats import hmean

    keys = [f"{s}_{m}" for s in ("retain", "real_authors", "world_facts") for m in ("prob", "rouge", "truth_ratio")]
    return float(hmean([components[k] for k in keys]))


def tofu_metrics(
    model_log: dict[str, Any],
    retain_log: dict[str, Any] | None = None,
    variant: TruthRatioVariant = "tofu",
) -> dict[str, Any]:
    """All TOFU numbers of one eval log: 12 components, Model Utility, and (with a retain log) Forget Quality."""
    out: dict[str, Any] = {}
    for file, name in SECTIONS.items():
        if file not in model_log:
            continue
        for metric, value in _section_numbers(name, model_log[file], variant).items():
            out[f"{name}_{metric}"] = value
    out["model_utility"] = model_utility(out)
    out["truth_ratio_variant"] = variant
    if retain_log is not None:
        if "eval_log_forget.json" not in model_log or "eval_log_forget.json" not in retain_log:
            raise UserError("forget quality needs the section 'eval_log_forget.json' in both eval logs")
        out.update(forget_quality(model_log["eval_log_forget.json"], retain_log["eval_log_forget.json"]))
        out["n_forget_eval"] = len(model_log["eval_log_forget.json"]["avg_paraphrased_loss"])
        out["n_forget_eval_retain"] = len(retain_log["eval_log_forget.json"]["avg_paraphrased_loss"])
    return out
