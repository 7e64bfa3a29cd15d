"""The ESC-Eval role-play protocol: a role agent plays the card, the ESC model answers.

Exactly as in the ESC-Eval code (``evaluate.py``):

1. The role agent's history starts with its system prompt (the card embedded in
   ``role_system``) and the fixed assistant **greeting** as a ``user`` turn, so the agent speaks
   first. The ESC model never sees the greeting.
2. The histories **mirror** roles: the agent's utterance is ``assistant`` in its own history and
   ``user`` in the ESC model's; the model's reply is ``assistant`` in its own history and
   ``user`` in the agent's.
3. If the ESC model has no system message, ``default_system`` ("You are a helpful assistant!")
   is inserted first.
4. Exactly ``rounds`` (default 5) rounds, one agent turn then one model turn; no early stop.
5. The output is ``1 + 2 * rounds`` strings: ``"AI assistant：" + greeting`` then per round
   ``"ESC-Role：" + agent turn`` and ``"AI assistant：" + model reply`` (full-width colon ``：``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelworks.chat import ChatModel, GenerateConfig, Message
from modelworks.errors import UserError
from modelworks.esc.templates import TemplateSet, fill

__all__ = ["ROLE_TAG", "ASSISTANT_TAG", "Dialogue", "role_play", "validate_dialogue", "split_utterance"]

ROLE_TAG = "ESC-Role："
ASSISTANT_TAG = "AI assistant："


@dataclass
class Dialogue:
    utterances: list[str]
    agent_messages: list[Message] = field(default_factory=list)  # the agent's final history
    model_messages: list[Message] = field(default_factory=list)  # the ESC model's final history


def role_play(
    card_text: str,
    agent: ChatModel,
    model: ChatModel,
    templates: TemplateSet,
    rounds: int = 5,
    agent_config: GenerateConfig | None = None,
    model_config: GenerateConfig | None = None,
    model_system: str | None = None,
) -> Dialogue:
    """Run one dialogue; ``model_system`` is the ESC model's own system prompt (None: the default)."""
    if rounds < 1:
        raise UserError(f"rounds must be >= 1, got {rounds}")
    greeting = templates.greeting
    agent_history: list[Message] = [
        {"role": "system", "content": fill(templates.role_system, card=card_text)},
        {"role": "user", "content": greeting},
    ]
    model_history: list[Message] = []
    if not any(m["role"] == "system" for m in model_history):
        model_history.insert(0, {"role": "system", "content": model_system or templates.default_system})
    utterances = [ASSISTANT_TAG + greeting]
    for _ in range(rounds):
        said = agent.generate([dict(m) for m in agent_history], agent_config)
        agent_history.append({"role": "assistant", "content": said})
        model_history.append({"role": "user", "content": said})
        reply = model.generate([dict(m) for m in model_history], model_config)
        model_history.append({"role": "assistant", "content": reply})
        agent_history.append({"role": "user", "content": reply})
        utterances += [ROLE_TAG + said, ASSISTANT_TAG + reply]
    return Dialogue(utterances, agent_history, model_history)


def split_utterance(utterance: str) -> tuple[str, str]:
    """``"ESC-Role：hi"`` -> ("seeker", "hi"); ``"AI assistant：..."`` -> ("supporter", ...)."""
    if utterance.startswith(ROLE_TAG):
        return "seeker", utterance[len(ROLE_TAG):]
    if utterance.startswith(ASSISTANT_TAG):
        return "supporter", utterance[len(ASSISTANT_TAG):]
    raise ValueError(f"utterance does not start with '{ROLE_TAG}' or '{ASSISTANT_TAG}'")


def validate_dialogue(utterances: object, where: str, rounds: int | None = None) -> list[str]:
    """Check the ESC-Eval shape (odd length, alternating tags); one-line UserError otherwise."""
    if not isinstance(utterances, list) or not all(isinstance(u, str) for u in utterances):
        raise UserError(f"{where}: a dialogue must be a list of strings")
    n = len(utterances)
    if n < 3 or n % 2 == 0:
        raise UserError(f"{where}: a dialogue has 1 + 2 x rounds utterances (11 for 5 rounds), got {n}")
    if rounds is not None and n != 1 + 2 * rounds:
        raise UserError(f"{where}: expected {1 + 2 * rounds} utterances for {rounds} rounds, got {n}")
    for i, u in enumerate(utterances):
        tag = ASSISTANT_TAG if i % 2 == 0 else ROLE_TAG
        if not u.startswith(tag):
            raise UserError(f"{where}: utterance {i} must start with '{tag}'")
    return list(utterances)
