"""Inverted facts: offline generator (never a perturbed answer), MEOW files, chat provider, selection."""

from __future__ import annotations

import random

import pytest

from modelworks.chat.mock import MockChat
from modelworks.errors import UserError
from modelworks.unlearn.inverted import (
    DEFAULT_TEMPLATE,
    invert_with_chat,
    load_meow_inverted,
    offline_invert,
    parse_inverted,
    select_by_memo,
)
from modelworks.unlearn.tofu import load_split
from modelworks.unlearn.tofu_generator import generate_tofu


def _norm(s):
    return " ".join(s.lower().split())


def _check_never_perturbed(root, forget_split, retain_split):
    forget = load_split(root, forget_split)
    retain = load_split(root, retain_split)
    pert = load_split(root, f"{forget_split}_perturbed") + load_split(root, "retain_perturbed")
    banned = {_norm(p) for r in pert for p in r["perturbed_answer"]}
    out = offline_invert(forget, [r["answer"] for r in retain], n=4, seed=0, forbidden=banned)
    emitted = [c for r in out for c in r["inverted"]]
    assert len(emitted) >= 3 * len(forget)
    assert not any(_norm(c) in banned for c in emitted)
    assert all(_norm(c) != _norm(r["answer"]) for r in out for c in r["inverted"])
    return out


def test_offline_generator_never_emits_tofu_perturbed_answers(shared_data):
    _check_never_perturbed(shared_data / "tofu", "forget10", "retain90")


def test_offline_generator_on_generated_data(tmp_path):
    root = generate_tofu(tmp_path, n_authors=20, seed=3)
    out = _check_never_perturbed(root, "forget10", "retain90")
    assert all(len(r["inverted"]) == 4 for r in out)


def test_forbidden_filter_drops_exact_candidates():
    rows = [{"question": "Who?", "answer": "Ann Lee wrote it."}]
    pool = ["Bo Chan wrote.", "Cy Dee wrote."]
    out = offline_invert(rows, pool, n=4, seed=0, forbidden=["Bo Chan wrote it."])
    assert out[0]["inverted"] == ["Cy Dee wrote it."]


def test_load_meow_released_files(shared_data):
    root = shared_data / "meow"
    rows = load_meow_inverted(root / "inverted_facts" / "forget01_perturbed_generated.json")
    assert len(rows) == 40 and all(len(r["inverted"]) == 4 for r in rows)
    assert rows[0]["answer"].endswith("Basil Mahfouz Al-Kuwaiti.")
    memo = load_meow_inverted(root / "memo" / "llama2-forget01_perturbed_generated_memo_suffix_5_full.json")
    assert all(len(r["memo"]) == len(r["inverted"]) and None not in r["memo"] for r in memo)
    mean_orig = sum(r["answer_memo"] for r in memo) / len(memo)
    mean_inv = sum(sum(r["memo"]) / len(r["memo"]) for r in memo) / len(memo)
    assert round(mean_orig, 3) == 0.501 and round(mean_inv, 3) == 0.198  # the README's recomputed means
    ten = load_meow_inverted(root / "inverted_facts" / "forget10_perturbed_generated.json")
    assert len(ten) == 400 and {len(r["inverted"]) for r in ten} == {1, 4, 5}


def test_load_meow_bad_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('[{"question": "q"}]')
    with pytest.raises(UserError, match="undesired_answer"):
        load_meow_inverted(p)
    with pytest.raises(UserError, match="not found"):
        load_meow_inverted(tmp_path / "none.json")


def test_chat_inversion_default_and_verbatim_template(tmp_path):
    rows = [{"question": "Where was Ann born?", "answer": "Ann was born in Oslo."}]
    chat = MockChat(responses=["1. Ann was born in Lima.\n\n- Ann was born in Rome.\nAnn was born in Oslo.\nx\ny"])
    out = invert_with_chat(chat, rows, n=3)
    assert out[0]["inverted"] == ["Ann was born in Lima.", "Ann was born in Rome."]
    prompt = chat.calls[0][0]["content"] if isinstance(chat.calls[0], list) else str(chat.calls[0])
    assert "Where was Ann born?" in str(prompt) and DEFAULT_TEMPLATE.split("{n}")[0] in str(prompt)
    tmpl = "SYSTEM-OFFICIAL {n} lies {curly} Q={question} A={answer}"
    chat2 = MockChat(responses=["a\nb"])
    invert_with_chat(chat2, rows, n=2, template=tmpl)
    assert "SYSTEM-OFFICIAL 2 lies {curly} Q=Where was Ann born? A=Ann was born in Oslo." in str(chat2.calls[0])


def test_parse_inverted():
    assert parse_inverted("1) a\n2. b\n* c\n\nAnswer 4: d", 10) == ["a", "b", "c", "d"]


def test_select_by_memo_directions():
    c, s = ["a", "b", "c", "d"], [0.2, 0.9, 0.1, 0.5]
    assert select_by_memo(c, s, 3, "largest") == ["b", "d", "a"]
    assert select_by_memo(c, s, 2, "smallest") == ["c", "a"]
    r = select_by_memo(c, s, 3, "random", random.Random(1))
    assert len(r) == 3 and set(r) <= set(c)
    assert len(set(r)) == len(r)  # no candidate picked twice
    for how in ("largest", "smallest", "random"):
        for k in (1, 3, 4, 10):  # k beyond the pool: every candidate once, never a repeat
            picks = select_by_memo(c, s, k, how, random.Random(k))
            assert len(picks) == min(k, len(c)) and len(set(picks)) == len(picks) and set(picks) <= set(c)
    # tied scores must not make the same candidate come up twice either
    assert select_by_memo(c, [0.5, 0.5, 0.5, 0.5], 4, "largest") == ["a", "b", "c", "d"]
    assert select_by_memo(c, [None, 0.3, None, 0.1], 2, "largest") == ["b", "d"]
    with pytest.raises(UserError):
        select_by_memo(c, s, 0)


def test_load_meow_non_string_answer(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('[{"question": "q", "undesired_answer": "a", "answer_0": "b", "answer_1": null}]')
    with pytest.raises(UserError, match="x.json: row 0 key 'answer_1' must be a string, got null"):
        load_meow_inverted(p)
