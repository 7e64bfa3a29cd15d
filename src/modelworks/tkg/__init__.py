"""Temporal KG completion as event generation from history chains (Chain of History).

Public names are re-exported here and imported on first use, so `modelworks --help` (which loads
``modelworks.tkg.cli``) does not pay for numpy/torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "datasets": ["TKGDataset", "load_tkg"],
    "metrics": ["Query", "evaluate_rankings", "queries_for", "rank_of", "time_aware_filters"],
    "rules": ["RULES", "rank_by_rule", "run_rule"],
    "history": ["REVERSE_STYLES", "FactTable", "HistoryIndex", "chain", "walk"],
    "prompts": ["PromptConfig", "build_prompt", "iter_prompts", "export_jsonl"],
    "decoding": ["EntityTrie", "constrained_beam_search", "evaluate_llm"],
    "examples": ["Examples", "build_examples"],
    "model": ["EventGenerator", "EventGeneratorConfig", "TrainSettings", "train_event_generator", "predict_topk",
              "event_loss"],
    "rule_prior": ["RulePriorConfig", "RuleFeatures", "rule_features", "prior_features", "tune_weights"],
    "typed_rules": ["TypedRulesConfig", "TypedRules", "learn_typed_rules", "typed_rule_features"],
    "synthetic": ["SyntheticConfig", "generate_synthetic", "write_synthetic"],
    "recipe": ["TKGRunConfig", "run_recipe"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"modelworks.tkg.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'modelworks.tkg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
