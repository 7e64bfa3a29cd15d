"""The guard judge's fine-tuned encoder heads, scored by the same grouped CV as guard_bench's variants.

    .venv/bin/python benchmarks/guard_judge_finetune_cv.py [--config configs/guard/judge.yaml] \
        [--variant '{"frozen_layers": 2}' ...] [--jobs 2] [--out FILE]

For each variant (``head=finetune`` plus the given overrides of the judge config) the encoder's frozen
layers run once over the training behaviours' items (70% of the behaviours of the HarmBench text dev
file, the split of ``guard judge train``), then the trainable top layers + head are trained on 4 folds
and scored on the fifth, for the 5 GroupKFold folds over behaviours that guard_bench's variant CV uses.
Also reported per variant: the accuracy of the mean of its probability and the default features
head's (C = the best of the config's grid by the same CV). The held-out behaviours are not read.

Prints JSON (and writes it to --out); ``benchmarks/guard_bench.py --finetune-cv FILE`` puts it in
docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VARIANTS = [{"frozen_layers": 4, "max_length": 256}, {"frozen_layers": 2, "max_length": 256},
                    {"frozen_layers": 0, "max_length": 256}, {"frozen_layers": 2, "max_length": 512}]


def _setup(config: str):
    import numpy as np
    from sklearn.model_selection import GroupKFold

    from modelworks.config import load_config
    from modelworks.guard.judge import HarmJudgeConfig
    from modelworks.guard.judge_data import behaviour_key, read_harm_items, split_by_behaviour
    from modelworks.paths import data_path

    cfg = load_config(HarmJudgeConfig, config)
    train, _ = split_by_behaviour(read_harm_items(data_path("safety_judge", "harmbench_cls_val_text_dev.jsonl")),
                                  0.3, cfg.seed)
    y = np.array([int(it["_label"]) for it in train])
    folds = list(GroupKFold(5).split(np.zeros(len(y)), y, [behaviour_key(it) for it in train]))
    return cfg, train, y, folds


def features_oof(config: str) -> dict:
    """Out-of-fold probabilities of the features head at its CV-best C."""
    import numpy as np

    from modelworks.guard.judge import HarmJudge, grouped_cv, make_classifier
    from modelworks.guard.judge_data import behaviour_key

    cfg, train, y, folds = _setup(config)
    x = HarmJudge(cfg).features(train)
    by_c = grouped_cv(x, y, [behaviour_key(it) for it in train], cfg.C_grid or [cfg.C], cfg.seed)
    C = max(by_c, key=lambda c: by_c[c])
    p = np.zeros(len(y))
    for tr, te in folds:
        p[te] = make_classifier("logreg", C, cfg.seed).fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
    return {"C": C, "proba": p.tolist()}


def finetune_cv(config: str, overrides: dict, threads: int = 1) -> dict:
    import dataclasses

    import numpy as np
    import torch

    from modelworks.guard.judge import HarmJudge

    cfg, train, y, folds = _setup(config)
    cfg = dataclasses.replace(cfg, head="finetune", threads=threads, **overrides)
    t0 = time.perf_counter()
    judge = HarmJudge(cfg)
    h, mask = judge.frozen_states(train)
    yt = torch.tensor(y)
    p = np.zeros(len(y))
    for tr, te in folds:
        judge.fit_states(h[tr], mask[tr], yt[tr])
        p[te] = judge.proba_states(h[te], mask[te])
    return {"overrides": overrides, "proba": p.tolist(), "seconds": round(time.perf_counter() - t0, 1),
            "frozen_layers": cfg.frozen_layers, "trained_layers": len(judge.top), "max_length": cfg.max_length,
            "settings": {k: getattr(cfg, k) for k in ("behaviour_tokens", "epochs", "lr", "head_lr", "batch_size")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "configs" / "guard" / "judge.yaml"))
    ap.add_argument("--variant", action="append", default=None, help="JSON object of judge config overrides "
                    "(head=finetune is implied); repeat for several. Default: four fine-tuning depths/lengths.")
    ap.add_argument("--jobs", type=int, default=1, help="variants trained at once (one torch thread each)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    variants = [json.loads(v) for v in args.variant] if args.variant else DEFAULT_VARIANTS
    if not all(isinstance(v, dict) for v in variants):
        sys.exit("error: every --variant must be a JSON object, e.g. '{\"frozen_layers\": 2}'")
    if any({"head", "threads"} & set(v) for v in variants):
        sys.exit("error: --variant: 'head' (always finetune) and 'threads' (one per job) are set by this script")
    import numpy as np

    t0 = time.perf_counter()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        base_job = pool.submit(features_oof, args.config)
        # the slowest (deepest, longest) variants first, so the workers finish together; results keep the given order
        cost = [(6 - v.get("frozen_layers", 4)) * v.get("max_length", 256) for v in variants]
        jobs = {i: pool.submit(finetune_cv, args.config, variants[i]) for i in sorted(range(len(variants)),
                                                                                  key=lambda i: -cost[i])}
        base = base_job.result()
        runs = [jobs[i].result() for i in range(len(variants))]
    _, _, y, folds = _setup(args.config)
    pb = np.array(base["proba"])

    def acc(p):
        return float(np.mean([((p[te] >= 0.5) == y[te]).mean() for _, te in folds]))

    rows = []
    for r in runs:
        p = np.array(r["proba"])
        rows.append({**{k: v for k, v in r.items() if k != "proba"}, "cv_accuracy": acc(p),
                     "mean_with_features_head": acc((p + pb) / 2)})
    res = {"features_head": {"C": base["C"], "cv_accuracy": acc(pb)}, "finetune": rows, "items": len(y),
           "wall_seconds": round(time.perf_counter() - t0, 1), "load_average_before": load,
           "command": shlex.join([".venv/bin/python", "benchmarks/guard_judge_finetune_cv.py", *sys.argv[1:]])}
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
