"""MLLMGuard: multimodal safety evaluation, red-team transforms, GuardRank judges, ASD/PAR.

>>> from modelworks.guard import position_swap_score
>>> position_swap_score("A", "A")
1
"""

from modelworks.guard.build import BuildConfig, build_samples
from modelworks.guard.dataset import (
    GuardSample,
    load_from_hub,
    load_jsonl,
    load_mllmguard,
    load_samples,
    load_subset_csv,
    save_jsonl,
    validate_samples,
)
from modelworks.guard.guardrank import GUARDRANK_INPUT, GuardRank, GuardRankConfig
from modelworks.guard.judge import HarmJudge, HarmJudgeConfig
from modelworks.guard.judge_data import split_by_behaviour
from modelworks.guard.llm_judge import LLMHarmJudge, LLMJudge
from modelworks.guard.metrics import (
    NO_ANSWER,
    compute_metrics,
    noise_injection,
    open_domain,
    position_swap_score,
    position_swapping,
    read_scores,
)
from modelworks.guard.rules import parse_option, score_noise_injection, score_position_swapping
from modelworks.guard.runner import RunConfig, run_guard
from modelworks.guard.scoring import make_scorer, score_responses
from modelworks.guard.taxonomy import DIMENSIONS, SUBSETS
from modelworks.guard.transforms import (
    TEMPLATES,
    TYPOGRAPHIC_PROMPT,
    apply_template,
    gaussian_noise,
    salt_and_pepper,
    side_by_side,
    typographic_image,
)

__all__ = [
    "BuildConfig", "build_samples",
    "GuardSample", "load_from_hub", "load_jsonl", "load_mllmguard", "load_samples", "load_subset_csv", "save_jsonl",
    "validate_samples",
    "GUARDRANK_INPUT", "GuardRank", "GuardRankConfig",
    "HarmJudge", "HarmJudgeConfig", "split_by_behaviour",
    "LLMHarmJudge", "LLMJudge",
    "NO_ANSWER", "compute_metrics", "noise_injection", "open_domain", "position_swap_score", "position_swapping",
    "read_scores",
    "parse_option", "score_noise_injection", "score_position_swapping",
    "RunConfig", "run_guard",
    "make_scorer", "score_responses",
    "DIMENSIONS", "SUBSETS",
    "TEMPLATES", "TYPOGRAPHIC_PROMPT", "apply_template", "gaussian_noise", "salt_and_pepper", "side_by_side",
    "typographic_image",
]
