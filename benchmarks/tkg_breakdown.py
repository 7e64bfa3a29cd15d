"""Where a finished tkg run's H@1 comes from: queries grouped by whether the answer is in the history chain.

    python benchmarks/tkg_breakdown.py RUN_DIR [--window 30]

For the valid and test splits (model alone, time-aware filtered H@1): the share of queries whose answer is
among the chain's (s, r) facts (H_s), elsewhere in the chain (H_e / H_r), or not in the chain, and H@1 in each
group. For test queries whose answer is not in the chain it also counts how many had the answer as an earlier
neighbour of the query entity (ever), or as a two-hop neighbour within the last ``--window`` time steps, and the
median size of that two-hop set (both from :func:`modelworks.tkg.graph_features.graph_features`). Prints one JSON
object. An analysis, not part of the recipe.
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    import numpy as np
    import torch

    from modelworks.tkg.graph_features import graph_features
    from modelworks.tkg.metrics import rank_of
    from modelworks.tkg.model import model_examples, predict_topk
    from modelworks.tkg.recipe import load_run_model

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run", help="a finished `modelworks tkg run` folder")
    ap.add_argument("--window", type=int, default=30, help="two-hop window in time steps")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg, ds, table, model = load_run_model(args.run)

    def reached(split: str, window: int, column: int) -> list[np.ndarray]:
        """Per query, the entities with a 1-hop fact (column 0) / a 2-hop path (column 1) in the window."""
        f = graph_features(ds, split, table, window, top=ds.num_entities)
        return [f.candidate[a:b][f.values[a:b, column] > 0] for a, b in zip(f.offsets[:-1], f.offsets[1:])]

    out: dict = {"run": args.run}
    for split in ("valid", "test"):
        ex = model_examples(ds, split, cfg.model, table)
        ids, _ = predict_topk(model, ex, k=min(cfg.topk, ds.num_entities))
        hit = np.array([rank_of(row, y, f) == 1 for row, y, f in zip(ids.tolist(), ex.target.tolist(), ex.filters(ds))])
        c, valid = np.clip(ex.chains, 0, None), ex.chains >= 0
        is_answer = valid & (table.tail[c] == ex.target[:, None])
        in_pair = (is_answer & (table.head[c] == ex.entity[:, None]) & (table.rel[c] == ex.relation[:, None])).any(1)
        in_chain = is_answer.any(1)
        groups = {"answer in H_s": in_pair, "answer elsewhere in the chain": in_chain & ~in_pair,
                  "answer not in the chain": ~in_chain}
        out[split] = {"queries": len(ex), "hits@1": float(hit.mean()),
                      **{g: {"share": float(m.mean()), "hits@1": float(hit[m].mean())} for g, m in groups.items()}}
        if split == "test":
            span = int((table.time.max() - table.time.min()) // ds.time_step) + 1  # every earlier fact
            ever_set, two_set = reached(split, span, 0), reached(split, args.window, 1)
            missing = np.where(~in_chain)[0]
            ever = sum(int(ex.target[i]) in ever_set[i] for i in missing.tolist())
            two = sum(int(ex.target[i]) in two_set[i] for i in missing.tolist())
            sizes = [len(two_set[i]) for i in missing.tolist()]
            out[split]["not in the chain"] = {"ever a neighbour": ever / max(len(missing), 1),
                                              f"two-hop within {args.window} steps": two / max(len(missing), 1),
                                              "median two-hop candidates": float(np.median(sizes)) if sizes else 0.0}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
