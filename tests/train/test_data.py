"""Data: prompt-masked labels for chat and instruction records, packing, batching and the data position."""

from __future__ import annotations

import re

import pytest

from modelworks.errors import UserError
from modelworks.models import train_tokenizer
from modelworks.train import TrainConfig, builtin_records, collate, tokenize_records
from modelworks.train.data import BatchPlan, read_records


@pytest.fixture(scope="module")
def tok():
    texts = [m["content"] for r in builtin_records("chat", 64) for m in r["messages"]]
    texts += [r["text"] for r in builtin_records("text", 64)]
    return train_tokenizer(texts, vocab_size=300)


def _targets(tok, ex):
    return tok.decode([t for t in ex["labels"] if t != -100])


def test_chat_loss_only_on_assistant_turns(tok):
    rec = {"messages": [{"role": "user", "content": "Ada has 3 hats. How many now?"},
                        {"role": "assistant", "content": "Ada has 3 hats."},
                        {"role": "user", "content": "And plus one?"},
                        {"role": "assistant", "content": "Ada has 4 hats."}]}
    (ex,) = tokenize_records([rec], tok, TrainConfig(data_format="chat", max_len=256))
    target = _targets(tok, ex)
    assert "Ada has 3 hats." in target and "Ada has 4 hats." in target
    assert "How many" not in target and "plus one" not in target
    assert len(ex["input_ids"]) == len(ex["labels"])


def test_instruction_masks_the_prompt(tok):
    cfg = TrainConfig(data_format="instruction", prompt_field="q", response_field="a")
    (ex,) = tokenize_records([{"q": "Add 2 and 3.\nAnswer: ", "a": "5"}], tok, cfg)
    assert _targets(tok, ex).replace("</s>", "").strip() == "5"
    assert ex["labels"][-1] == tok.eos_token_id
    with pytest.raises(UserError, match="no field 'q'"):
        tokenize_records([{"prompt": "x", "response": "y"}], tok, cfg)


def test_packing_makes_full_rows(tok):
    cfg = TrainConfig(data_format="text", max_len=16, packing=True)
    rows = tokenize_records(builtin_records("text", 20), tok, cfg)
    assert rows and all(len(r["input_ids"]) == 16 == len(r["labels"]) for r in rows)


def test_collate_pads_right_and_handles_nested_parts():
    a = {"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}
    b = {"input_ids": [8], "labels": [8]}
    batch = collate([a, b], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    nested = collate([{"forget": a, "retain": b}, {"forget": b, "retain": a}])
    assert nested["forget"]["input_ids"].shape == (2, 3) and nested["retain"]["labels"][1].tolist() == [-100, 6, 7]


def test_batch_plan_splits_global_batch_by_rank():
    single = BatchPlan(20, 4, seed=3)
    r0, r1 = BatchPlan(20, 2, 2, 0, seed=3), BatchPlan(20, 2, 2, 1, seed=3)
    for epoch in range(2):
        for b in range(single.batches_per_epoch):
            assert single.indices(epoch, b) == r0.indices(epoch, b) + r1.indices(epoch, b)
    assert single.order(0) != single.order(1)
    with pytest.raises(UserError, match="global batch"):
        BatchPlan(3, 4)


def test_read_records_errors_name_file_and_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(UserError, match=":2: not valid JSON"):
        read_records([str(p)])
    with pytest.raises(UserError, match="not found"):
        read_records([str(tmp_path / "none.jsonl")])
    assert len(read_records(["builtin:instruction"])) == 256


@pytest.mark.parametrize("fmt,line,needle", [
    ("text", '{"txt": "x"}', "record has no field 'text' (fields: txt)"),
    ("text", '{"text": null}', "field 'text' must be a string, got null"),
    ("text", '{"text": ["a", "b"]}', "field 'text' must be a string, got a list"),
    ("instruction", '{"prompt": "Add 2 and 3.", "response": 5}', "field 'response' must be a string, got a number"),
    ("chat", '{"messages": []}', "field 'messages' must be a non-empty list"),
    ("chat", '{"messages": [{"role": "user", "content": null}]}', "field 'messages[0].content' must be a string or a list of parts"),
    ("chat", '{"messages": ["hi"]}', "field 'messages[0]' must be a {role, content} object"),
])
def test_read_records_checks_fields_naming_file_and_line(tmp_path, fmt, line, needle):
    good = {"text": '{"text": "ok"}', "instruction": '{"prompt": "p", "response": "r"}',
            "chat": '{"messages": [{"role": "user", "content": "hi"}]}'}[fmt]
    p = tmp_path / "d.jsonl"
    p.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(UserError) as err:
        read_records([str(p)], TrainConfig(data_format=fmt))
    assert str(err.value).startswith(f"{p}:3: {needle}")  # file:line (blank lines counted) and the field
    assert len(read_records([str(p)])) == 2  # without a config: only the JSON is checked


def test_tokenize_rejects_non_string_fields(tok):
    with pytest.raises(UserError, match="data record 2: field 'text' must be a string, got null"):
        tokenize_records([{"text": "ok"}, {"text": None}], tok, TrainConfig())


def test_fit_reports_a_bad_record_before_creating_the_run_folder(tmp_path):
    from modelworks.train import fit

    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "ok"}\n{"txt": "x"}\n')
    with pytest.raises(UserError, match=re.escape(f"{p}:2: record has no field 'text'")):
        fit(TrainConfig(data=[str(p)], out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()


def test_chat_content_may_be_a_list_of_text_parts():
    from modelworks.train.config import TrainConfig
    from modelworks.train.data import record_texts, tokenize_record
    from modelworks.train.modeling import load_model_and_tokenizer

    cfg = TrainConfig(model="tiny", data=["builtin:chat"], data_format="chat")
    rec = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]},
                        {"role": "assistant", "content": "hi"}]}
    assert record_texts([rec], cfg) == ["hello there", "hi"]
    _, tok = load_model_and_tokenizer("tiny", None, record_texts([rec], cfg) * 20)
    ex = tokenize_record(rec, tok, cfg)
    assert "hello there" in tok.decode(ex["input_ids"]) and any(x != -100 for x in ex["labels"])
