"""Prompt, greeting and rubric texts as template files (``esc/templates/<en|zh>/*.txt``).

The shipped texts are our own wording with the same slots and structure as the ESC-Eval code.
To use other wording (for example the official prompts, to score with the released ESC-RANK
weights), write the text to a file and name it in the config / CLI::

    templates:
      role_system: my/official_role_prompt_en.txt     # every language
      zh.role_system: my/official_role_prompt_zh.txt  # only Chinese cards
      rubric.empathic: my/empathy_rubric.txt

A supplied file is used **verbatim**: its bytes are decoded as UTF-8 and only the slots below are
filled (a final newline in the file is part of the text). Slots are written ``{name}``; any other
brace is left alone, so a rubric may contain ``{`` freely.

| template        | slots                           | used for                                         |
|-----------------|---------------------------------|--------------------------------------------------|
| role_system     | {card}                          | the role agent's system prompt                   |
| greeting        | (none)                          | the assistant's fixed first turn                 |
| default_system  | (none)                          | ESC model's system prompt when it has none       |
| rank_prompt     | {rubric} {dialogue} {dimension} | the ESC-RANK judge prompt                        |
| rubric.<dim>    | (none)                          | rubric of one dimension (judge + annotation app) |

``templates/esconv_rating.txt`` (one text, ESConv is English; slots ``{dialogue}`` ``{question}``) is the
rating prompt of the LoRA scorer trained on ESConv surveys (:mod:`modelworks.esc.rank.lora`); replace it
with ``esc rank train --data F --form lora --template esconv_rating=FILE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelworks.errors import UserError

__all__ = ["TemplateSet", "load_templates", "read_template", "fill", "DIMENSIONS", "DIMENSION_TITLES", "TEMPLATE_NAMES"]

# Code keys of the 7 ESC-Eval dimensions, in the paper's table order.
DIMENSIONS = ("fluency", "diversity", "empathic", "suggestion", "human", "tech", "overall")
# Paper names (Table 2): used in reports and in the annotation app.
DIMENSION_TITLES = {
    "fluency": "Fluency", "diversity": "Expression", "empathic": "Empathy", "suggestion": "Information",
    "human": "Humanoid", "tech": "Skillful", "overall": "Overall",
}
# The dimension's name as it appears in the judge question (our wording).
_QUESTION_NAMES = {
    "en": {"fluency": "fluency", "diversity": "diversity", "empathic": "empathy",
           "suggestion": "suggestion effectiveness", "human": "humanoid", "tech": "emotional knowledge",
           "overall": "overall preference"},
    "zh": {"fluency": "流畅度", "diversity": "多样性", "empathic": "共情", "suggestion": "建议有效性",
           "human": "拟人化", "tech": "情绪支持知识", "overall": "总体偏好"},
}
TEMPLATE_NAMES = ("role_system", "greeting", "default_system", "rank_prompt", *(f"rubric.{d}" for d in DIMENSIONS))
_DIR = Path(__file__).parent / "templates"


@dataclass
class TemplateSet:
    language: str
    role_system: str
    greeting: str
    default_system: str
    rank_prompt: str
    rubrics: dict[str, str] = field(default_factory=dict)
    question_names: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # template name -> file it came from


def fill(template: str, **slots: str) -> str:
    """Replace each ``{name}`` for the given names only; other text (braces included) is kept."""
    out = template
    for name, value in slots.items():
        out = out.replace("{" + name + "}", value)
    return out


def read_template(path: Path, what: str) -> str:
    """A template file decoded verbatim (UTF-8 bytes, line endings kept); one-line errors name the template."""
    if not path.is_file():
        raise UserError(f"template file for '{what}' not found: {path}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"template file for '{what}' is not UTF-8 text: {path}") from None


def load_templates(language: str, overrides: dict[str, str] | None = None) -> TemplateSet:
    """The shipped templates of ``language`` (en | zh) with user files replacing any of them."""
    if language not in ("en", "zh"):
        raise UserError(f"unknown template language '{language}'; use en or zh")
    chosen: dict[str, Path] = {}
    for name in TEMPLATE_NAMES:
        chosen[name] = _DIR / language / (name.replace(".", "_") + ".txt")
    for key, path in (overrides or {}).items():
        lang, _, name = key.partition(".") if key.split(".")[0] in ("en", "zh") else ("", "", key)
        if name not in TEMPLATE_NAMES:
            raise UserError(f"unknown template '{key}'; choose from {', '.join(TEMPLATE_NAMES)} "
                            "(optionally prefixed with en. or zh.)")
        if lang and lang != language:
            continue
        if not lang and f"{language}.{name}" in (overrides or {}):
            continue  # a language-specific override beats a general one
        chosen[name] = Path(path)
    texts = {name: read_template(path, name) for name, path in chosen.items()}
    return TemplateSet(
        language=language,
        role_system=texts["role_system"],
        greeting=texts["greeting"],
        default_system=texts["default_system"],
        rank_prompt=texts["rank_prompt"],
        rubrics={d: texts[f"rubric.{d}"] for d in DIMENSIONS},
        question_names=dict(_QUESTION_NAMES[language]),
        sources={name: str(path) for name, path in chosen.items()},
    )
