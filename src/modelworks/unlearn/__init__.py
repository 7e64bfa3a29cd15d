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

from modelworks.unlearn.config import UnlearnConfig
from modelworks.unlearn.evaluate import eval_log
from modelworks.unlearn.inverted import invert_with_chat, load_meow_inverted, offline_invert, select_by_memo
from modelworks.unlearn.memo import memo_scores, memo_windows
from modelworks.unlearn.methods import MethodConfig, get_method, method_names, register_method
from modelworks.unlearn.metrics import forget_quality, load_eval_log, model_utility, tofu_metrics, truth_ratio
from modelworks.unlearn.qa import QATemplate
from modelworks.unlearn.recipe import run_experiment
from modelworks.unlearn.tofu import load_idk, load_split
from modelworks.unlearn.tofu_generator import generate_tofu
from modelworks.unlearn.utility import bleu, multiple_choice_accuracy, rep_n

__all__ = [
    "UnlearnConfig", "eval_log", "invert_with_chat", "load_meow_inverted", "offline_invert", "select_by_memo",
    "memo_scores", "memo_windows", "MethodConfig", "get_method", "method_names", "register_method",
    "forget_quality", "load_eval_log", "model_utility", "tofu_metrics", "truth_ratio", "QATemplate",
    "run_experiment", "load_idk", "load_split", "generate_tofu", "bleu", "multiple_choice_accuracy", "rep_n",
]
