"""How much does the esc held-out number depend on which 80/20 split was drawn? Re-split and refit.

The esc section of docs/RESULTS.md scores the light ESC-RANK on one seeded 80/20 split of esconv_dev.jsonl
(seed 0 of ``benchmarks/esc_rank_esconv.py``). Here the same default scorer (the ESConv feature groups and
ridge penalties, unchanged) is refitted on the 80% of each of ``--splits`` further seeded conversation-level
splits (seeds 1..N, the same shuffle as seed 0's) and scored on that split's rated 20%; next to it, the raw
supporter-character count's Spearman on the same 20% (the issue's length anchor, ~0.17). Nothing is tuned
here. One caveat, printed with the table: the feature groups and penalties were chosen by cross-validation on
seed 0's training part, which overlaps every other split's held-out part, so these numbers lean optimistic.

    nice -n 10 .venv/bin/python benchmarks/esc_rank_resplit.py [--splits 100] [--target empathy] [--no-results]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

import numpy as np


def main(splits: int, target: str) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(2)
    from modelworks.esc.rank.encoder import utterance_encoder
    from modelworks.esc.rank.esconv import load_esconv, target_value
    from modelworks.esc.rank.features import dialogue_features
    from modelworks.esc.rank.light import ESCONV_ALPHAS, train_light
    from modelworks.esc.rank.metrics import spearman
    from modelworks.paths import data_path

    src = data_path("esc", "esconv", "esconv_dev.jsonl")
    convs = load_esconv(src)  # line order, as esc_rank_esconv.py shuffles it
    t0 = time.perf_counter()
    x = dialogue_features(utterance_encoder(), [c.turns for c in convs])
    feat_s = time.perf_counter() - t0
    y = np.array([np.nan if (v := target_value(c, target)) is None else v for c in convs], dtype=float)
    chars = np.array([sum(len(t) for r, t in c.turns if r == "supporter") for c in convs], dtype=float)
    rated = ~np.isnan(y)
    cut = int(0.8 * len(convs))
    rows = []
    for seed in range(splits + 1):
        order = list(range(len(convs)))
        random.Random(seed).shuffle(order)
        tr = np.array(sorted(order[:cut]))
        te = np.array(sorted(order[cut:]))
        tr, te = tr[rated[tr]], te[rated[te]]
        scorer = train_light(x[tr], {target: list(y[tr])}, 1, 5, alphas=ESCONV_ALPHAS)
        rows.append({"seed": seed, "n_test": int(len(te)), "scorer": spearman(scorer.predict_features(x[te], target), y[te]),
                     "supporter_chars": spearman(chars[te], y[te])})
    others = [r for r in rows if r["seed"] > 0]
    sc = np.array([r["scorer"] for r in others])
    ch = np.array([r["supporter_chars"] for r in others])
    return {
        "target": target, "data": str(src), "n_conversations": len(convs), "n_rated": int(rated.sum()),
        "features_seconds": round(feat_s, 1), "splits": rows,
        "supporter_chars_all_rated": spearman(chars[rated], y[rated]),
        "summary": {"n_splits": len(others), "scorer_mean": float(sc.mean()), "scorer_sd": float(sc.std(ddof=1)),
                    "scorer_min": float(sc.min()), "scorer_max": float(sc.max()),
                    "scorer_share_at_least_0.30": float((sc >= 0.30).mean()),
                    "chars_mean": float(ch.mean()), "chars_sd": float(ch.std(ddof=1)),
                    "seed0_scorer": rows[0]["scorer"], "seed0_chars": rows[0]["supporter_chars"],
                    "seed0_scorer_rank": float((sc < rows[0]["scorer"]).mean()),
                    "seed0_chars_rank": float((ch < rows[0]["supporter_chars"]).mean()),
                    "corr_scorer_chars_across_splits": float(np.corrcoef(sc, ch)[0, 1])},
    }


def markdown(r: dict, argv: str) -> str:
    from modelworks.report import markdown_table

    s = r["summary"]
    table = markdown_table(["", "light ESC-RANK (default ridge)", "supporter characters"], [
        ["seed 0 (the esc section's split)", s["seed0_scorer"], s["seed0_chars"]],
        [f"mean over seeds 1..{s['n_splits']}", s["scorer_mean"], s["chars_mean"]],
        ["SD over those splits", s["scorer_sd"], s["chars_sd"]],
        ["share of those splits below seed 0", s["seed0_scorer_rank"], s["seed0_chars_rank"]],
        ["min / max over those splits", f"{s['scorer_min']:.3f} / {s['scorer_max']:.3f}", ""],
    ])
    return "\n".join([
        f"## esc: held-out {r['target']} Spearman over re-drawn 80/20 splits", "",
        f"Command: `{argv}` — the light ESC-RANK with its default feature groups and ridge penalties, refitted on "
        f"the 80% of each seeded conversation-level split of esconv_dev.jsonl ({r['n_conversations']} conversations, "
        f"{r['n_rated']} with a survey) and scored on that split's rated 20% (about "
        f"{round(np.mean([x['n_test'] for x in r['splits']]))} conversations). Nothing is tuned here.", "",
        table, "",
        (f"Share of re-drawn splits where the scorer reaches the issue's 0.30: {s['scorer_share_at_least_0.30']:.2f}. "
         if r["target"] == "empathy" else "")
        + f"Supporter characters vs {r['target']} over all rated conversations: {r['supporter_chars_all_rated']:.3f}"
        + (" (the issue's anchor is ~0.17)" if r["target"] == "empathy" else "") + ". Correlation across splits of the scorer's and the character count's "
        f"Spearman: {s['corr_scorer_chars_across_splits']:.2f}. Caveat: the default's feature groups and "
        "penalties were chosen by cross-validation on seed 0's training part, which overlaps the held-out part of "
        "every other split, so the re-split numbers lean optimistic; seed 0's held-out part was never used for a "
        "choice." + (" The issue's target is judged on seed 0's split (the esc section), not on this table."
                     if r["target"] == "empathy" else ""),
    ])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=100)
    ap.add_argument("--target", default="empathy", choices=("empathy", "relevance", "intensity_drop"))
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    if args.splits < 2:
        ap.error("--splits must be >= 2 (a spread needs two re-drawn splits)")
    res = main(args.splits, args.target)
    print(json.dumps(res["summary"], indent=1))
    if not args.no_results:
        from modelworks.report import update_results_section

        argv = "nice -n 10 .venv/bin/python benchmarks/esc_rank_resplit.py" + (
            f" --splits {args.splits}" if args.splits != 100 else "") + (
            f" --target {args.target}" if args.target != "empathy" else "")
        update_results_section("esc-resplit" if args.target == "empathy" else f"esc-resplit-{args.target}",
                               markdown(res, argv))
    sys.exit(0)
