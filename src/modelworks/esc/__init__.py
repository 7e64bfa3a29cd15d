"""ESC-Eval: role-play evaluation of emotional-support models, human annotation, ESC-RANK.

>>> from modelworks.esc import EscRunConfig, run_esc, load_cards, role_play, load_templates
"""

from modelworks.esc.cards import RoleCard, filter_cards, load_cards
from modelworks.esc.dialogue import ASSISTANT_TAG, ROLE_TAG, Dialogue, role_play, validate_dialogue
from modelworks.esc.judge import judge_dialogue, parse_score, rank_dialogue_text, rank_prompt
from modelworks.esc.leaderboard import leaderboard, leaderboard_report, to_100
from modelworks.esc.runner import DialogueRecord, EscRunConfig, read_dialogues, run_esc
from modelworks.esc.scoring import judge_run, rank_run, read_scores
from modelworks.esc.templates import DIMENSION_TITLES, DIMENSIONS, TemplateSet, fill, load_templates

__all__ = [
    "ASSISTANT_TAG", "DIMENSIONS", "DIMENSION_TITLES", "Dialogue", "DialogueRecord", "EscRunConfig", "ROLE_TAG",
    "RoleCard", "TemplateSet", "fill", "filter_cards", "judge_dialogue", "judge_run", "leaderboard",
    "leaderboard_report", "load_cards", "load_templates", "parse_score", "rank_dialogue_text", "rank_prompt",
    "rank_run", "read_dialogues", "read_scores", "role_play", "run_esc", "to_100", "validate_dialogue",
]
