"""Average the event generators of several finished tkg runs (same config, other seeds) and evaluate.

    python benchmarks/tkg_ensemble.py RUN_DIR RUN_DIR [...]

The members' probabilities are averaged (log of the mean probability). The rule prior's weights are chosen
for the ensemble on the valid split exactly as the recipe does (so every run must hold valid out: trained on
train only); then the test split is evaluated once, alone and with the prior, and inference is timed.
Prints one JSON object. An experiment, not part of the recipe.
"""

from __future__ import annotations

import json
import math
import sys
import time


def main() -> None:
    import torch

    from modelworks.tkg.metrics import evaluate_rankings
    from modelworks.tkg.model import model_examples, predict_topk
    from modelworks.tkg.recipe import load_run_model, run_typed_rules
    from modelworks.tkg.rule_prior import prior_features, scores_for_tuning, tune_weights

    runs = sys.argv[1:]
    if len(runs) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    loaded = [load_run_model(r) for r in runs]
    cfg, ds, table, _ = loaded[0]
    if "valid" in cfg.train_splits:
        sys.exit(f"{runs[0]} trained on valid: the prior cannot be tuned on it")

    class Ensemble(torch.nn.Module):
        def __init__(self, members):
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, *batch):
            logps = torch.stack([m(*batch) for m in self.members])
            return torch.logsumexp(logps, 0) - math.log(len(self.members))

    model = Ensemble([m for *_, m in loaded]).eval()
    k, mc = min(cfg.topk, ds.num_entities), cfg.model

    def examples(split):
        return model_examples(ds, split, mc, table)

    typed = run_typed_rules(runs[0], cfg)  # the first run's typed rules (learned on train, as in every member)
    valid = examples("valid")
    vfeats = prior_features(ds, "valid", table, cfg.rule_prior, typed)
    ids, logp, hist = scores_for_tuning(model, valid, vfeats, k=k)
    weights, valid_h1, trials = tune_weights(ids, logp, vfeats, hist, valid.target, valid.filters(ds),
                                             cfg.rule_prior.grids)
    alone_valid = next(t["hits@1"] for t in trials if not any(t["weights"]))
    test = examples(cfg.eval_split)
    feats = prior_features(ds, cfg.eval_split, table, cfg.rule_prior, typed)
    out = {"runs": runs, "members": len(runs), "weights": weights, "valid_filtered_hits@1": valid_h1,
           "valid_filtered_hits@1_alone": alone_valid}
    for name, prior in (("alone", None), ("with_prior", (feats, weights) if any(weights) else None)):
        t0 = time.perf_counter()
        ids, _ = predict_topk(model, test, k=k, prior=prior)
        seconds = time.perf_counter() - t0
        m = evaluate_rankings(ids.tolist(), test.target.tolist(), test.filters(ds))
        out[name] = {"time_aware_filtered": m["time_aware_filtered"], "raw": m["raw"],
                     "queries_per_second": len(test) / seconds}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
