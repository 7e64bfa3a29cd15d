"""`modelworks tkg run CONFIG`: prepare -> train -> predict -> evaluate -> report.

1. prepare: load the dataset (or write the seeded synthetic one into the run folder), its statistics,
   and the four rule baselines on the evaluation split;
2. train: history chains for the training splits, then the event generator from scratch through
   ``modelworks.train.fit``; with ``rule_prior.tune`` the rule prior's weights are then chosen on the
   held-out valid split;
3. predict: top-k entities for every query of the evaluation split (both directions), timed, by the model
   alone and with the rule prior;
4. evaluate: raw and time-aware filtered Hits@1/3/10 + MRR; ablations (each a separately trained model
   at the ablation budget, beside the full model retrained at the same budget);
5. report: results.json, predictions.jsonl (per query), report.md with the rules and the paper's table.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from modelworks.config import check_numbers
from modelworks.errors import ConfigError, UserError
from modelworks.tkg.model import EventGeneratorConfig, TrainSettings
from modelworks.tkg.rule_prior import RulePriorConfig
from modelworks.tkg.rules import RULES
from modelworks.tkg.synthetic import SyntheticConfig
from modelworks.tkg.typed_rules import TypedRules, learn_typed_rules

__all__ = ["TKGRunConfig", "DataConfig", "Ablation", "run_recipe", "load_run_model", "load_run_prior",
           "run_typed_rules"]

TYPED_RULES_FILE = "typed_rules.npz"


@dataclass
class DataConfig:
    path: str | None = None  # a folder, or a name under <data root>/tkg/ (e.g. ICEWS14)
    synthetic: SyntheticConfig | None = None

    def __post_init__(self) -> None:
        # the loader puts 'data.' in front of the first key named, so name 'path' (not 'data') first
        if self.path is not None and self.synthetic is not None:
            raise ConfigError("key 'path' is set together with 'synthetic': give exactly one of them "
                              "(override the other with null, e.g. data.synthetic=null)")
        if self.path is None and self.synthetic is None:
            raise ConfigError("key 'path' is missing: give exactly one of 'path' (a dataset folder or name) "
                              "or 'synthetic'")


@dataclass
class Ablation:
    name: str
    augment: bool | None = None
    reverse: str | None = None
    history: int | None = None
    name_features: bool | None = None
    history_features: int | None = None


@dataclass
class TKGRunConfig:
    data: DataConfig
    name: str = "tkg"
    model: EventGeneratorConfig = field(default_factory=EventGeneratorConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    train_splits: list[str] = field(default_factory=lambda: ["train"])
    eval_split: str = "test"
    rules: list[str] = field(default_factory=lambda: list(RULES))
    rule_history: int = 100
    topk: int = 100
    ablations: list[Ablation] = field(default_factory=list)
    ablation_train: TrainSettings | None = None
    rule_prior: RulePriorConfig = field(default_factory=RulePriorConfig)  # weights chosen on valid; all 0 = off
    seed: int = 0

    def __post_init__(self) -> None:
        for s in self.train_splits:
            if s not in ("train", "valid"):
                raise ConfigError(f"key 'train_splits' may hold train and valid, got {s!r}")
        if self.eval_split not in ("valid", "test"):
            raise ConfigError(f"key 'eval_split' must be valid or test, got {self.eval_split!r}")
        if self.eval_split in self.train_splits:
            raise ConfigError(f"key 'eval_split' ({self.eval_split}) must not be a training split")
        for r in self.rules:
            if r not in RULES:
                raise ConfigError(f"key 'rules' has unknown rule {r!r}; choose from {', '.join(RULES)}")
        check_numbers(self, at_least_0=("rule_history",), at_least={10: ("topk",)})  # rule_history 0 = unlimited
        for i, a in enumerate(self.ablations):
            try:  # validates the combination; errors name the ablation's own key
                EventGeneratorConfig(**{**self.model.__dict__, **_changes(a)})
            except ConfigError as exc:
                raise ConfigError(str(exc).replace("key '", f"key 'ablations[{i}].", 1)) from None
        if self.rule_prior.tune and ("valid" in self.train_splits or self.eval_split == "valid"):
            raise ConfigError("key 'rule_prior.tune' chooses weights on the valid split, so valid must be neither "
                              "a training split nor the evaluation split")


def _changes(a: Ablation) -> dict:
    pairs = (("augment", a.augment), ("reverse", a.reverse), ("history", a.history), ("name_features", a.name_features),
             ("history_features", a.history_features))
    return {k: v for k, v in pairs if v is not None}


def _data_folder(cfg: TKGRunConfig, data_dir: str | None) -> Path | None:
    """The folder of ``data.path`` (None for synthetic data); a ``--data-dir`` that does not exist is an error."""
    from modelworks.paths import find_data_root
    from modelworks.tkg.datasets import find_tkg_folder

    if cfg.data.synthetic is not None:
        find_data_root(data_dir)  # still a named folder that must exist
        return None
    return find_tkg_folder(str(cfg.data.path), data_dir, what="key 'data.path': TKG data folder")


def _resolve_data(cfg: TKGRunConfig, run_dir: Path, data_dir: str | None):
    from modelworks.tkg.datasets import load_tkg
    from modelworks.tkg.synthetic import write_synthetic

    folder = _data_folder(cfg, data_dir)
    if folder is not None:
        return load_tkg(folder)
    syn = cfg.data.synthetic
    assert syn is not None
    return load_tkg(write_synthetic(syn, run_dir / "data"), name=f"synthetic(seed={syn.seed})")


def _train_examples(ds, table, splits, mcfg: EventGeneratorConfig):
    from modelworks.tkg.examples import Examples
    from modelworks.tkg.model import model_examples

    directions = "forward" if mcfg.reverse == "none" else "both"
    return Examples.concat([model_examples(ds, s, mcfg, table, directions) for s in splits])


def _tune_prior(model, ds, table, cfg: TKGRunConfig, mcfg: EventGeneratorConfig, typed=None) -> dict:
    """Grid-search the rule prior's weights for time-aware filtered H@1 on the (held-out) valid split."""
    from modelworks.tkg.model import model_examples
    from modelworks.tkg.rule_prior import prior_features, scores_for_tuning, tune_weights

    t0 = time.perf_counter()
    ex = model_examples(ds, "valid", mcfg, table)
    feats = prior_features(ds, "valid", table, cfg.rule_prior, typed)
    ids, logp, hist = scores_for_tuning(model, ex, feats, k=min(cfg.topk, ds.num_entities))
    grids, filters = cfg.rule_prior.grids, ex.filters(ds)
    weights, h1, trials = tune_weights(ids, logp, feats, hist, ex.target, filters, grids)
    alone = next((t["hits@1"] for t in trials if not any(t["weights"])), None)
    if alone is None:  # no grid holds 0: score the model alone separately
        alone = tune_weights(ids, logp, feats, hist, ex.target, filters, [[0.0]] * len(grids))[1]
    return {"weights": weights, "features": list(cfg.rule_prior.feature_names), "tuned_on": "valid",
            "valid_filtered_hits@1": h1, "valid_filtered_hits@1_model_alone": alone, "grids": grids,
            "trials": len(trials), "seconds": time.perf_counter() - t0}


def _fit_and_eval(ds, table, cfg: TKGRunConfig, mcfg: EventGeneratorConfig, settings: TrainSettings, run=None,
                  weights: list[float] | None = None, typed=None):
    """Train one event generator (through ``modelworks.train.fit``) and evaluate it on the evaluation split,
    alone and with the rule prior: ``weights`` when given, else tuned on valid (``rule_prior.tune``) or the
    configured weights; ``typed``: the typed rules when ``rule_prior.typed`` is on."""
    import torch

    from modelworks.tkg.metrics import evaluate_rankings
    from modelworks.tkg.model import EventGenerator, model_examples, predict_topk, train_event_generator
    from modelworks.tkg.rule_prior import prior_features

    torch.manual_seed(settings.seed)
    t0 = time.perf_counter()
    train = _train_examples(ds, table, cfg.train_splits, mcfg)
    prep_s = time.perf_counter() - t0
    model = EventGenerator(mcfg, ds.num_entities, ds.num_relations, table, ds.time_step, names=ds.entities)
    info = train_event_generator(model, train, settings, run=run)
    if weights is not None:
        prior = {"weights": list(weights), "tuned_on": "the full model's tuning"}
    elif cfg.rule_prior.tune:
        prior = _tune_prior(model, ds, table, cfg, mcfg, typed)
    else:
        prior = {"weights": cfg.rule_prior.all_weights, "features": list(cfg.rule_prior.feature_names),
                 "tuned_on": None}
    k = min(cfg.topk, ds.num_entities)
    t1 = time.perf_counter()
    ev = model_examples(ds, cfg.eval_split, mcfg, table)
    t2 = time.perf_counter()
    ids, scores = predict_topk(model, ev, k=k)
    t3 = time.perf_counter()
    filters = ev.filters(ds)
    metrics = evaluate_rankings(ids.tolist(), ev.target.tolist(), filters)
    info.update({
        "train_examples": len(train), "prepare_seconds": prep_s, "parameters": sum(p.numel() for p in model.parameters()),
        "predict_queries": len(ev), "predict_seconds_model": t3 - t2, "predict_seconds_with_chains": t3 - t1,
        "queries_per_second_model": len(ev) / max(t3 - t2, 1e-9),
        "queries_per_second_with_chains": len(ev) / max(t3 - t1, 1e-9),
    })
    without_prior = None
    if any(w > 0 for w in prior["weights"]):
        t4 = time.perf_counter()
        feats = prior_features(ds, cfg.eval_split, table, cfg.rule_prior, typed)
        t5 = time.perf_counter()
        ids, scores = predict_topk(model, ev, k=k, prior=(feats, prior["weights"]))
        t6 = time.perf_counter()
        without_prior, metrics = metrics, evaluate_rankings(ids.tolist(), ev.target.tolist(), filters)
        info.update({  # the served path: chains + rule (and typed-rule) features + model with the prior
            "predict_seconds_model": t6 - t5, "predict_seconds_with_chains": (t6 - t4) + (t2 - t1),
            "queries_per_second_model": len(ev) / max(t6 - t5, 1e-9),
            "queries_per_second_with_chains": len(ev) / max((t6 - t4) + (t2 - t1), 1e-9),
        })
    return model, metrics, without_prior, prior, info, ev, ids, scores


def run_recipe(cfg: TKGRunConfig, out: str | Path | None = None, data_dir: str | None = None) -> Path:
    from modelworks.env import seed_everything
    from modelworks.runs import Run
    from modelworks.tkg.history import FactTable
    from modelworks.tkg.rules import run_rule

    seed_everything(cfg.seed)
    _data_folder(cfg, data_dir)  # a missing dataset fails before the run folder is created
    run = Run.create(f"tkg-{cfg.name}", config=cfg, out=out, seed=cfg.seed)
    with run:
        # 1. prepare
        ds = _resolve_data(cfg, run.dir, data_dir)
        table = FactTable.from_dataset(ds)
        stats = ds.statistics()
        rules = {}
        for rule in cfg.rules:
            rules[rule] = run_rule(ds, rule, cfg.rule_history, cfg.eval_split)
            run.log(None, rule=rule, **{f"filtered_{k}": v for k, v in rules[rule]["time_aware_filtered"].items()})
        typed, typed_info = None, None
        if cfg.rule_prior.typed.enabled and cfg.rule_prior.enabled:  # confidences from the training splits only
            t0 = time.perf_counter()
            typed = learn_typed_rules(ds, table, cfg.rule_prior.typed, tuple(cfg.train_splits))
            typed.save(run.path(TYPED_RULES_FILE))
            typed_info = {"splits": list(cfg.train_splits), "seconds": time.perf_counter() - t0,
                          "length1_rules": int((typed.conf1 > 0).sum()), "length2_rules": len(typed.keys2)}
            run.log(None, typed_rules=typed_info)
        # 2-4. train, predict, evaluate
        model, metrics, without_prior, prior, info, ev, ids, scores = _fit_and_eval(
            ds, table, cfg, cfg.model, replace(cfg.train, seed=cfg.seed), run=run, typed=typed)
        import torch

        torch.save(model.state_dict(), run.path("model.pt"))
        _write_predictions(run.path("predictions.jsonl"), ev, ids, scores)
        # ablations at their own (smaller) budget, with the full model retrained at that budget
        ablations = []
        if cfg.ablations:
            budget = replace(cfg.ablation_train or cfg.train, seed=cfg.seed)
            for i, a in enumerate([Ablation(name="full model (ablation budget)"), *cfg.ablations]):
                mcfg = replace(cfg.model, **_changes(a))
                with Run.create("tkg-ablation", config=mcfg, out=run.path(f"ablations/{i:02d}"), seed=cfg.seed) as sub:
                    _, m, m0, _, inf, *_ = _fit_and_eval(ds, table, cfg, mcfg, budget, run=sub,
                                                         weights=prior["weights"], typed=typed)
                ablations.append({"name": a.name, "changes": _changes(a), "metrics": m, "metrics_without_prior": m0,
                                  "train": inf})
                run.log(None, ablation=a.name, filtered_hits1=m["time_aware_filtered"]["hits@1"])
        results = {
            "dataset": stats, "dataset_version": ds.version(), "eval_split": cfg.eval_split,
            "model": metrics, "model_without_prior": without_prior, "rule_prior": prior, "typed_rules": typed_info,
            "train": info, "rules": rules, "rule_history": cfg.rule_history,
            "ablations": ablations,
        }
        run.write_results(results)
        run.write_report(render_report(cfg, ds, results))
    return run.dir


def _write_predictions(path: Path, ev, ids: np.ndarray, scores: np.ndarray) -> None:
    from modelworks.runs import atomic_write_text

    lines = []
    for q, row, sc in zip(ev.queries, ids[:, :10].tolist(), scores[:, :10].tolist()):
        lines.append(json.dumps({"entity": q.entity, "relation": q.relation, "inverse": q.inverse, "time": q.time,
                                 "target": q.target, "top10": row, "logp": [round(s, 4) for s in sc]}))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _row(name: str, m: dict) -> list:
    return [name, m["hits@1"], m["hits@3"], m["hits@10"], m["mrr"]]


def render_report(cfg: TKGRunConfig, ds, results: dict) -> str:
    from modelworks.report import markdown_table
    from modelworks.tkg.paper import paper_rows

    info = results["train"]
    head = ["model", "H@1", "H@3", "H@10", "MRR"]
    parts = [
        f"# Temporal KG completion: {cfg.name}\n",
        f"Dataset: {results['dataset_version']}. Evaluation split: **{cfg.eval_split}**, both directions "
        f"({results['model']['queries']} queries), single-step (ground truth of earlier timestamps is history).\n",
        f"Our event generator: {cfg.model.layers} layers, dim {cfg.model.dim}, history L={cfg.model.history}, "
        f"augmentation={'on' if cfg.model.augment else 'off'}, reverse knowledge={cfg.model.reverse}"
        f"{', entity-name features' if cfg.model.name_features else ''}"
        f"{f', history features over the last {cfg.model.history_features} facts' if cfg.model.history_features else ''}; "
        f"{info['parameters']:,} parameters, trained from scratch for {info['steps']} steps of batch "
        f"{cfg.train.batch_size} (sampled from {info['train_examples']:,} training queries of "
        f"{'+'.join(cfg.train_splits)}, {info['seconds'] / 60:.1f} min through `modelworks.train.fit`"
        f"{', stopped by the time limit' if info['stopped_by_time_limit'] else ''}). "
        f"Inference: {info['queries_per_second_model']:.0f} queries/s (model), "
        f"{info['queries_per_second_with_chains']:.0f} queries/s including history-chain building, CPU.\n",
    ]
    prior = results.get("rule_prior") or {}
    if any(w > 0 for w in prior.get("weights", [])):
        w = ", ".join(f"{n} {v:g}" for n, v in zip(cfg.rule_prior.feature_names, prior["weights"]))
        how = (f"chosen on the held-out valid split by a grid search ({prior['trials']} points; valid filtered H@1 "
               f"{prior['valid_filtered_hits@1_model_alone']:.3f} -> {prior['valid_filtered_hits@1']:.3f})"
               if prior.get("tuned_on") == "valid" else "fixed in the config")
        typed = cfg.rule_prior.typed
        typed_text = (f" and typed-rule confidences (learned on {'+'.join(cfg.train_splits)}; length 1 over the last "
                      f"{typed.history} facts, length 2 over {typed.hop} facts per hop)" if typed.enabled else "")
        parts.append(f"Rule prior: score = log p(o) + w . f(o), features over the last {cfg.rule_prior.history} "
                     f"history facts{typed_text}; w = {w}, {how}.\n")
    for setting, label in (("time_aware_filtered", "Time-aware filtered"), ("raw", "Raw")):
        if results.get("model_without_prior"):
            rows = [_row("**ours: event generator + rule prior**", results["model"][setting]),
                    _row("ours: event generator alone", results["model_without_prior"][setting])]
        else:
            rows = [_row("**ours: event generator**", results["model"][setting])]
        rows += [_row(f"rule: {r} (L={results['rule_history']})", results["rules"][r][setting]) for r in results["rules"]]
        paper = paper_rows(ds.name, setting)
        rows += [[f"paper: {m}", h1, h3, h10, None] for m, h1, h3, h10 in paper]
        parts.append(f"## {label} Hits@k\n")
        parts.append(markdown_table(head, rows, digits=3))
        if paper:
            table_no = 4 if setting == "time_aware_filtered" else 3
            parts.append(f"Paper rows: Luo et al. 2024 (Chain of History), Table {table_no}, copied; MRR not reported.\n")
    if results["ablations"]:
        parts.append("## Ablation (each row trained separately at the ablation budget)\n")
        rows = []
        for a in results["ablations"]:
            f, r = a["metrics"]["time_aware_filtered"], a["metrics"]["raw"]
            rows.append([a["name"], f["hits@1"], f["hits@3"], f["hits@10"], r["hits@1"], a["train"]["steps"]])
        parts.append(markdown_table(["variant", "filtered H@1", "filtered H@3", "filtered H@10", "raw H@1", "steps"],
                                    rows, digits=3))
    parts.append("\nMissing candidates count as misses (rank beyond the list, 0 in MRR). Files: results.json, "
                 "predictions.jsonl (top-10 per query), metrics.jsonl, model.pt.\n")
    return "\n".join(parts)


def load_run_model(run_dir: str | Path, data_dir: str | None = None):
    """The trained event generator of a finished run folder, with its dataset and fact table."""
    import torch

    from modelworks.config import load_config
    from modelworks.tkg.history import FactTable
    from modelworks.tkg.model import EventGenerator

    run_dir = Path(run_dir)
    if not (run_dir / "model.pt").is_file():
        raise UserError(f"{run_dir}: no model.pt (is it a finished `modelworks tkg run` folder?)")
    cfg = load_config(TKGRunConfig, run_dir / "config.yaml")
    ds = _resolve_data(cfg, run_dir, data_dir) if cfg.data.synthetic is None else _load_synthetic_copy(run_dir)
    table = FactTable.from_dataset(ds)
    model = EventGenerator(cfg.model, ds.num_entities, ds.num_relations, table, ds.time_step, names=ds.entities)
    model.load_state_dict(torch.load(run_dir / "model.pt", map_location="cpu"))
    model.eval()
    return cfg, ds, table, model


def load_run_prior(run_dir: str | Path, cfg: TKGRunConfig, ds, table, split: str | None = None):
    """``(features, weights)`` of a finished run's rule prior on ``split`` (default: its evaluation split), as the run
    applied it (the weights in its results.json, the typed rules it saved); None when the run used no prior."""
    from modelworks.tkg.rule_prior import prior_features

    path = Path(run_dir) / "results.json"
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the run's results ({exc})") from None
    prior = (results.get("rule_prior") if isinstance(results, dict) else None) or {}
    if not isinstance(results, dict) or not isinstance(prior, dict):
        raise UserError(f"{path}: field 'rule_prior' must be an object in a results object")
    weights = prior.get("weights") or []
    if not isinstance(weights, list) or not all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                                for w in weights):
        raise UserError(f"{path}: field 'rule_prior.weights' must be a list of numbers, got {weights!r}")
    if not any(w > 0 for w in weights):
        return None
    names = cfg.rule_prior.feature_names
    if len(weights) != len(names):
        raise UserError(f"{path}: field 'rule_prior.weights' has {len(weights)} numbers, the run's "
                        f"config has {len(names)} prior features ({', '.join(names)})")
    return prior_features(ds, split or cfg.eval_split, table, cfg.rule_prior, run_typed_rules(run_dir, cfg)), \
        list(weights)


def run_typed_rules(run_dir: str | Path, cfg: TKGRunConfig) -> TypedRules | None:
    """The typed rules a finished run learned (None when its config has them off)."""
    return TypedRules.load(Path(run_dir) / TYPED_RULES_FILE) if cfg.rule_prior.typed.enabled else None


def _load_synthetic_copy(run_dir: Path):
    from modelworks.tkg.datasets import load_tkg

    return load_tkg(run_dir / "data")
