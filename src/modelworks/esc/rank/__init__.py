"""ESC-RANK scorers: the paper's LoRA form and a light MiniLM form, trained on human scores.

Heavy libraries (torch, transformers, peft, scikit-learn) are imported inside the functions.
"""

from modelworks.esc.rank.annotations import ScoredDialogue, load_annotations, pair_files
from modelworks.esc.rank.esconv import TARGETS, Conversation, load_esconv, target_value
from modelworks.esc.rank.metrics import auroc, exact_accuracy, soft_accuracy, spearman, to_levels
from modelworks.esc.rank.recipes import evaluate_scorer, load_scorer, train_on_annotations, train_on_esconv

__all__ = [
    "Conversation", "ScoredDialogue", "TARGETS", "auroc", "evaluate_scorer", "exact_accuracy", "load_annotations",
    "load_esconv", "load_scorer", "pair_files", "soft_accuracy", "spearman", "target_value", "to_levels",
    "train_on_annotations", "train_on_esconv",
]
