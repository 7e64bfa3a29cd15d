"""Apply fixed rule-prior weights to a finished tkg run's model on its evaluation split (inference only).

    python benchmarks/tkg_apply_prior.py RUN_DIR '[w_pf, w_pr, w_ef, w_er]'

(six weights when the run's config has ``rule_prior.typed.enabled``: the two typed-rule weights last).

Prints one JSON line without the prior and one with it (time-aware filtered and raw Hits@k, MRR). The
weights must come from the valid split (e.g. ``rule_prior.weights`` in another run's results.json).
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    import torch

    from modelworks.tkg.metrics import evaluate_rankings
    from modelworks.tkg.model import model_examples, predict_topk
    from modelworks.tkg.recipe import load_run_model, run_typed_rules
    from modelworks.tkg.rule_prior import prior_features

    if len(sys.argv) != 3:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    run_dir, weights = sys.argv[1], json.loads(sys.argv[2])
    cfg, ds, table, model = load_run_model(run_dir)
    ev = model_examples(ds, cfg.eval_split, cfg.model, table)
    if len(weights) != len(cfg.rule_prior.feature_names):
        sys.exit(f"{len(weights)} weights given; the run's prior has {len(cfg.rule_prior.feature_names)} features: "
                 f"{', '.join(cfg.rule_prior.feature_names)}")
    feats = prior_features(ds, cfg.eval_split, table, cfg.rule_prior, run_typed_rules(run_dir, cfg))
    filters = ev.filters(ds)
    for w in ([0.0] * len(weights), weights):
        t0 = time.perf_counter()
        ids, _ = predict_topk(model, ev, k=min(cfg.topk, ds.num_entities), prior=(feats, w) if any(w) else None)
        m = evaluate_rankings(ids.tolist(), ev.target.tolist(), filters)
        print(json.dumps({"run": run_dir, "split": cfg.eval_split, "weights": w, "seconds": time.perf_counter() - t0,
                          "time_aware_filtered": m["time_aware_filtered"], "raw": m["raw"]}), flush=True)


if __name__ == "__main__":
    main()
