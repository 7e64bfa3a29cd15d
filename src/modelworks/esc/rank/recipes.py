"""Train and evaluate ESC-RANK scorers: top-to-bottom recipes behind ``modelworks esc rank``.

- :func:`train_on_annotations`: ESC-Eval dialogues with 0-4 scores per dimension -> a scorer
  (``form="light"``: MiniLM features + linear heads; ``form="lora"``: LoRA adapters per dimension
  and language on a local HF causal LM, see :mod:`modelworks.esc.rank.lora`).
- :func:`train_on_esconv`: ESConv conversations -> light heads predicting the seeker's survey
  (empathy, relevance 1-5; intensity_drop); ridge penalties fixed to ``ESCONV_ALPHAS``.
- :func:`evaluate_scorer`: per-dimension exact ACC, ±1 ACC_soft and Spearman on an annotation
  file, or ``{"spearman", "acc_soft", "n", "skipped"}`` on an ESConv file for one target.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from modelworks.errors import UserError
from modelworks.runs import check_out_path

__all__ = ["train_on_annotations", "train_on_esconv", "evaluate_scorer", "load_scorer", "is_esconv_file",
           "TARGET_RANGES"]

TARGET_RANGES = {"empathy": (1, 5), "relevance": (1, 5), "intensity_drop": (-4, 4)}


def is_esconv_file(path: str | Path) -> bool:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"data file not found: {p}")
    with open(p, "rb") as fh:
        head = fh.read(4096)
    return b'"dialog"' in head


def _split_esconv_targets(targets: list[str]) -> list[str]:
    from modelworks.esc.rank.esconv import TARGETS

    for t in targets:
        if t not in TARGETS:
            raise UserError(f"unknown ESConv target '{t}'; choose from {', '.join(TARGETS)}")
    return targets


def train_on_esconv(data: str | Path, targets: list[str], out: str | Path, head: str = "ridge",
                    encoder_dir: str | None = None, form: str = "light", **lora_options: Any) -> dict[str, Any]:
    check_out_path(out)  # before any training
    from modelworks.esc.rank.encoder import utterance_encoder
    from modelworks.esc.rank.esconv import load_esconv, target_value
    from modelworks.esc.rank.features import dialogue_features
    from modelworks.esc.rank.light import ESCONV_ALPHAS, train_light

    targets = _split_esconv_targets(targets)
    t0 = time.perf_counter()
    convs = load_esconv(data)
    if form == "lora":  # one adapter per target on a local causal LM, answering with the 1-5 rating
        from modelworks.esc.rank.lora import train_lora_esconv

        info = train_lora_esconv(convs, targets, out, **lora_options)
        skipped = {t: sum(target_value(c, t) is None for c in convs) for t in targets}
        return {"out": str(out), "conversations": len(convs), "skipped_without_survey": skipped, "form": "lora",
                "seconds": round(time.perf_counter() - t0, 2), **info}
    if form != "light":
        raise UserError(f"unknown scorer form '{form}'; use light or lora")
    x = dialogue_features(utterance_encoder(encoder_dir), [c.turns for c in convs])
    labels = {t: [target_value(c, t) for c in convs] for t in targets}
    lows = [TARGET_RANGES[t][0] for t in targets]
    highs = [TARGET_RANGES[t][1] for t in targets]
    scorer = train_light(x, labels, min(lows), max(highs), head=head, encoder_dir=encoder_dir,
                         alphas=ESCONV_ALPHAS if head == "ridge" else None)
    scorer.meta.update({"data": str(data), "kind": "esconv", "ranges": {t: TARGET_RANGES[t] for t in targets}})
    scorer.save(out)
    skipped = {t: sum(v is None for v in labels[t]) for t in targets}
    return {"out": str(out), "conversations": len(convs), "skipped_without_survey": skipped,
            "seconds": round(time.perf_counter() - t0, 2)}


def train_on_annotations(data: str | Path, out: str | Path, form: str = "light", head: str = "ridge",
                         encoder_dir: str | None = None, **lora_options: Any) -> dict[str, Any]:
    from modelworks.esc.rank.annotations import HIGH, LOW, load_annotations

    check_out_path(out)  # before any training
    t0 = time.perf_counter()
    items = load_annotations(data)
    dims = sorted({d for it in items for d in it.scores}, key=_dim_order)
    if form == "lora":
        from modelworks.esc.rank.lora import train_lora

        info = train_lora(items, out, dims, **lora_options)
    elif form == "light":
        from modelworks.esc.rank.encoder import utterance_encoder
        from modelworks.esc.rank.features import dialogue_features, turns_of_utterances
        from modelworks.esc.rank.light import train_light

        x = dialogue_features(utterance_encoder(encoder_dir), [turns_of_utterances(it.utterances) for it in items])
        labels = {d: [it.scores.get(d) for it in items] for d in dims}
        scorer = train_light(x, labels, LOW, HIGH, [it.language for it in items], head=head, encoder_dir=encoder_dir)
        scorer.meta.update({"data": str(data), "kind": "annotations"})
        scorer.save(out)
        info = {"heads": sorted(scorer.heads)}
    else:
        raise UserError(f"unknown scorer form '{form}'; use light or lora")
    return {"out": str(out), "dialogues": len(items), "dimensions": dims, "form": form,
            "seconds": round(time.perf_counter() - t0, 2), **info}


def _dim_order(d: str) -> int:
    from modelworks.esc.templates import DIMENSIONS

    return DIMENSIONS.index(d) if d in DIMENSIONS else 99


def load_scorer(path: str | Path):
    p = Path(path)
    spec = p / "scorer.json"
    if not spec.is_file():
        raise UserError(f"{p} is not a scorer folder (no scorer.json): train one with 'modelworks esc rank train'")
    from modelworks.jsonl import read_json

    data = read_json(spec, "scorer spec")
    form = data.get("form") if isinstance(data, dict) else None
    if form == "light":
        from modelworks.esc.rank.light import LightScorer

        return LightScorer.load(p)
    if form == "lora":
        from modelworks.esc.rank.lora import LoraScorer

        return LoraScorer.load(p)
    raise UserError(f"{spec}: unknown scorer form {form!r}")


def evaluate_scorer(scorer_dir: str | Path, data: str | Path, target: str | None = None) -> dict[str, Any]:
    from modelworks.esc.rank.metrics import exact_accuracy, soft_accuracy, spearman, to_levels

    scorer = load_scorer(scorer_dir)
    if is_esconv_file(data):
        from modelworks.esc.rank.esconv import load_esconv, target_value

        if not hasattr(scorer, "predict_features") and scorer.spec.get("kind") != "esconv":
            raise UserError(f"{scorer_dir} scores ESC-Eval dimensions: an ESConv evaluation needs a scorer trained "
                            "with --data (ESConv)")
        target = target or scorer.targets[0]
        if target not in TARGET_RANGES:
            hint = (f" ({scorer_dir} scores ESC-Eval dimensions: evaluate it on annotation data)"
                    if target in scorer.targets else "")
            raise UserError(f"unknown ESConv target '{target}'; choose from {', '.join(TARGET_RANGES)}{hint}")
        if target not in scorer.targets:
            raise UserError(f"{scorer_dir} predicts {', '.join(scorer.targets)}, not '{target}'")
        convs = load_esconv(data)
        gold = [target_value(c, target) for c in convs]
        keep = [i for i, g in enumerate(gold) if g is not None]
        if not keep:
            raise UserError(f"{data}: no conversation has a post-chat survey for '{target}'")
        pred = np.asarray(scorer.score([convs[i].turns for i in keep], target), dtype=float)
        g = np.array([gold[i] for i in keep])
        lo, hi = TARGET_RANGES[target]
        invalid = np.isnan(pred)  # a LoRA reply without a rating: the lowest rank, and never a correct level
        levels = np.where(invalid, lo - 99, to_levels(np.nan_to_num(pred, nan=lo), lo, hi))
        res = {"target": target, "spearman": spearman(np.where(invalid, lo - 1, pred), g),
               "acc_soft": soft_accuracy(levels, g), "acc": exact_accuracy(levels, g), "n": len(keep),
               "skipped": len(convs) - len(keep)}
        return {**res, "invalid": int(invalid.sum())}  # replies without a rating (LoRA form; 0 for light)
    from modelworks.esc.rank.annotations import HIGH, LOW, load_annotations

    items = load_annotations(data)
    dims = [d for d in scorer.targets if any(d in it.scores for it in items)]
    if not dims:
        raise UserError(f"{scorer_dir} predicts {', '.join(scorer.targets)}, and {data} scores none of them "
                        "(an ESConv scorer is evaluated on ESConv data)")
    if target:
        if target not in dims:
            raise UserError(f"target '{target}' is not both in the scorer and in {data}")
        dims = [target]
    preds = scorer.score_dialogues([it.utterances for it in items], dims, [it.language for it in items]) \
        if hasattr(scorer, "score_dialogues") else None
    if preds is None:
        from modelworks.esc.rank.features import turns_of_utterances

        x = scorer.features([turns_of_utterances(it.utterances) for it in items])
        preds = {d: scorer.predict_features(x, d, [it.language for it in items]) for d in dims}
    out: dict[str, Any] = {"n": len(items), "dimensions": {}}
    for d in dims:
        idx = [i for i, it in enumerate(items) if d in it.scores]
        g = np.array([items[i].scores[d] for i in idx])
        gl = to_levels(g, LOW, HIGH)
        p = np.asarray(preds[d], dtype=float)[idx]
        invalid = np.isnan(p)  # a judge reply without a digit 0-4 (-1): counted as wrong
        pl = np.where(invalid, -99, to_levels(np.nan_to_num(p), LOW, HIGH))
        out["dimensions"][d] = {"acc": exact_accuracy(pl, gl), "acc_soft": soft_accuracy(pl, gl),
                                "spearman": spearman(np.where(invalid, -1.0, p), g), "n": len(idx),
                                "invalid": int(invalid.sum())}
    vals = out["dimensions"].values()
    out["average"] = {}
    for k in ("acc", "acc_soft", "spearman"):
        ok = [v[k] for v in vals if v[k] == v[k]]
        out["average"][k] = float(np.mean(ok)) if ok else float("nan")
    return out
