"""Typed-rule features in the rule prior, checked on finished tkg runs (inference only, no retraining).

    python benchmarks/tkg_typed_rules.py RUN_DIR [RUN_DIR ...] [--set KEY=VALUE ...]

For each run (trained on train only, valid held out): learn the typed rules on train with the settings of
``configs/tkg/icews14_cpu.yaml`` (``rule_prior.typed``), then tune the rule prior on valid twice, with the four
history features and with the four + the two typed-rule features (the config's grids), and evaluate the test
split once with each chosen weight vector. This is the experiment that decided ``rule_prior.typed.enabled``
(adopt at +0.002 valid H@1 on both seed 0 and seed 1). ``--set hop=20`` etc. override keys of
``rule_prior.typed`` (variants of the adopted settings). Prints one JSON line per run.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tkg" / "icews14_cpu.yaml"


def main() -> None:
    import torch

    from modelworks.config import load_config
    from modelworks.tkg.metrics import evaluate_rankings
    from modelworks.tkg.model import model_examples, predict_topk
    from modelworks.tkg.recipe import TKGRunConfig, load_run_model
    from modelworks.tkg.rule_prior import prior_features, scores_for_tuning, tune_weights
    from modelworks.tkg.typed_rules import learn_typed_rules

    args = sys.argv[1:]
    overrides = [f"rule_prior.typed.{a}" for a in args[args.index("--set") + 1:]] if "--set" in args else []
    runs = args[:args.index("--set")] if "--set" in args else args
    if not runs:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    typed_cfg = load_config(TKGRunConfig, CONFIG, overrides).rule_prior.typed
    for run_dir in runs:
        cfg, ds, table, model = load_run_model(run_dir)
        if "valid" in cfg.train_splits:
            sys.exit(f"{run_dir} trained on valid: the prior cannot be tuned on it")
        t0 = time.perf_counter()
        typed = learn_typed_rules(ds, table, typed_cfg, tuple(cfg.train_splits))
        out = {"run": run_dir, "typed": typed_cfg.__dict__, "learn_seconds": time.perf_counter() - t0}
        valid, test = (model_examples(ds, s, cfg.model, table) for s in ("valid", cfg.eval_split))
        k = min(cfg.topk, ds.num_entities)
        for name, on in (("history features", False), ("history + typed-rule features", True)):
            prior_cfg = replace(cfg.rule_prior, typed=replace(typed_cfg, enabled=on))
            feats = prior_features(ds, "valid", table, prior_cfg, typed)
            ids, logp, hist = scores_for_tuning(model, valid, feats, k=k)
            weights, h1, trials = tune_weights(ids, logp, feats, hist, valid.target, valid.filters(ds), prior_cfg.grids)
            test_feats = prior_features(ds, cfg.eval_split, table, prior_cfg, typed)
            top, _ = predict_topk(model, test, k=k, prior=(test_feats, weights) if any(weights) else None)
            m = evaluate_rankings(top.tolist(), test.target.tolist(), test.filters(ds))
            out[name] = {"features": list(prior_cfg.feature_names), "weights": weights, "trials": len(trials),
                         "valid_filtered_hits@1": h1, "test": m}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
