"""The ESC-Eval protocol, checked message by message with scripted mock providers."""

from __future__ import annotations

import pytest

from modelworks.chat import MockChat
from modelworks.errors import UserError
from modelworks.esc.dialogue import ASSISTANT_TAG, ROLE_TAG, role_play, validate_dialogue
from modelworks.esc.templates import load_templates

CARD = "Age: 30\nGender: Female\nOccupation: Nurse\nProblem: Burned out after night shifts."


def scripted():
    agent = MockChat(fn=lambda msgs: f"seeker-{sum(m['role'] == 'assistant' for m in msgs) + 1}")
    model = MockChat(fn=lambda msgs: f"reply-{sum(m['role'] == 'assistant' for m in msgs) + 1}")
    return agent, model


def test_protocol_messages_each_side_sees_each_round():
    t = load_templates("en")
    agent, model = scripted()
    role_play(CARD, agent, model, t, rounds=5)
    system = t.role_system.replace("{card}", CARD)
    assert "{card}" not in system and CARD in system
    assert len(agent.calls) == 5 and len(model.calls) == 5
    for r in range(5):
        # The role agent: system prompt with the card, the greeting as a user turn, then mirrored turns.
        expect_agent = [{"role": "system", "content": system}, {"role": "user", "content": t.greeting}]
        for i in range(1, r + 1):
            expect_agent += [{"role": "assistant", "content": f"seeker-{i}"}, {"role": "user", "content": f"reply-{i}"}]
        assert agent.calls[r] == expect_agent
        # The ESC model: default system prompt, never the greeting; the agent's turns are user turns.
        expect_model = [{"role": "system", "content": "You are a helpful assistant!"}]
        for i in range(1, r + 1):
            expect_model += [{"role": "user", "content": f"seeker-{i}"}, {"role": "assistant", "content": f"reply-{i}"}]
        expect_model.append({"role": "user", "content": f"seeker-{r + 1}"})
        assert model.calls[r] == expect_model
        assert all(t.greeting not in str(m["content"]) for m in model.calls[r])


def test_output_is_eleven_strings_with_full_width_colon():
    t = load_templates("en")
    agent, model = scripted()
    utts = role_play(CARD, agent, model, t).utterances
    assert len(utts) == 11
    assert utts[0] == "AI assistant：" + t.greeting
    for i in range(1, 6):
        assert utts[2 * i - 1] == f"ESC-Role：seeker-{i}"
        assert utts[2 * i] == f"AI assistant：reply-{i}"
    assert ROLE_TAG.endswith("\uff1a") and ASSISTANT_TAG.endswith("\uff1a")
    assert validate_dialogue(utts, "x", rounds=5) == utts


def test_exactly_n_rounds_no_early_stop_even_on_goodbye():
    t = load_templates("en")
    agent = MockChat(responses=["bye", "bye"])
    model = MockChat(responses=[""])
    utts = role_play(CARD, agent, model, t, rounds=3).utterances
    assert len(utts) == 7 and len(agent.calls) == 3 and len(model.calls) == 3


def test_model_system_prompt_replaces_default():
    t = load_templates("en")
    agent, model = scripted()
    role_play(CARD, agent, model, t, rounds=1, model_system="You are a counsellor.")
    assert model.calls[0][0] == {"role": "system", "content": "You are a counsellor."}


def test_chinese_templates_and_greeting():
    t = load_templates("zh")
    agent, model = scripted()
    utts = role_play("年龄：青年\n问题：压力大", agent, model, t, rounds=1).utterances
    assert utts[0] == "AI assistant：" + t.greeting
    assert "年龄：青年" in agent.calls[0][0]["content"]


def test_supplied_template_is_used_verbatim(tmp_path):
    official = tmp_path / "role.txt"
    text = "Play this person:'{card}\n' {not_a_slot} stay human.\n"
    official.write_text(text, encoding="utf-8")
    greet = tmp_path / "greet.txt"
    greet.write_text("Hello there, tell me anything!", encoding="utf-8")
    t = load_templates("en", {"role_system": str(official), "en.greeting": str(greet), "zh.greeting": "/nope"})
    agent, model = scripted()
    utts = role_play("CARD-TEXT", agent, model, t, rounds=1).utterances
    assert agent.calls[0][0]["content"] == "Play this person:'CARD-TEXT\n' {not_a_slot} stay human.\n"
    assert agent.calls[0][1]["content"] == "Hello there, tell me anything!"
    assert utts[0] == "AI assistant：Hello there, tell me anything!"


def test_bad_template_and_dialogue_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_templates("en", {"role_system": str(tmp_path / "missing.txt")})
    with pytest.raises(UserError, match="unknown template"):
        load_templates("en", {"role_sys": "x"})
    with pytest.raises(UserError, match="utterance 1 must start with 'ESC-Role："):
        validate_dialogue(["AI assistant：hi", "user: x", "AI assistant：y"], "d.json")
    with pytest.raises(UserError, match="11 for 5 rounds"):
        validate_dialogue(["AI assistant：hi", "ESC-Role：x"], "d.json")


def test_official_example_dialogues_have_the_format(shared_data):
    import json

    for lang in ("en", "zh"):
        d = json.loads((shared_data / "esc" / "examples" / f"dialogue_Qwen_7B_{lang}.json").read_text(encoding="utf-8"))
        for idx, utts in d.items():
            validate_dialogue(utts, idx, rounds=5)
