"""MEOW unlearning with MEMO-selected inverted facts; TOFU protocol and baselines.

Public API (heavy imports stay inside the functions):

* data: :func:`load_split`, :func:`load_idk`, :func:`generate_tofu`
* metrics: :func:`tofu_metrics`, :func:`load_eval_log`, :func:`truth_ratio`, :func:`forget_quality`,
  :func:`model_utility`, :func:`eval_log`
* MEMO and inverted facts: :func:`memo_scores`, :func:`memo_windows`, :func:`offline_invert`,
  :func:`invert_with_chat`, :func:`load_meow_inverted`, :func:`select_by_memo`
* methods: :func:`get_method`, :func:`register_method`, :func:`method_names`, :class:`MethodConfig`
* recipe: :class:`UnlearnConfig`, :func:`run_experiment`
* utility: :func:`multiple_choice_accuracy`, :func:`bleu`, :func:`rep_n`
"""

from importlib import import_module
from typing import Any

# name -> module; imported on first use (PEP 562) so that `modelworks --help` does not load numpy
_EXPORTS = {
    "UnlearnConfig": "config", "eval_log": "evaluate", "invert_with_chat": "inverted",
    "load_meow_inverted": "inverted", "offline_invert": "inverted", "select_by_memo": "inverted",
    "memo_scores": "memo", "memo_windows": "memo", "MethodConfig": "methods", "get_method": "methods",
    "method_names": "methods", "register_method": "methods", "forget_quality": "metrics",
    "load_eval_log": "metrics", "model_utility": "metrics", "tofu_metrics": "metrics", "truth_ratio": "metrics",
    "QATemplate": "qa", "run_experiment": "recipe", "load_idk": "tofu", "load_split": "tofu",
    "generate_tofu": "tofu_generator", "bleu": "utility", "multiple_choice_accuracy": "utility", "rep_n": "utility",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'modelworks.unlearn' has no attribute '{name}'")
    value = getattr(import_module(f"modelworks.unlearn.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
