"""ESC-RANK scorers: the light MiniLM head beats the majority baseline; the LoRA form trains and scores."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from modelworks.errors import UserError
from modelworks.esc.rank.metrics import exact_accuracy, soft_accuracy, spearman, to_levels

WARM = ["I'm so sorry you're going through this, that sounds really painful.",
        "It makes sense that you feel this way; anyone would be hurt.",
        "Thank you for trusting me with this. You're not alone.",
        "I can hear how exhausted you are, and your feelings are valid.",
        "That must be so hard. I'm here with you."]
COLD = ["Ok.", "Please provide more details.", "This is not my problem.", "Noted. Anything else?",
        "You should just get over it."]


def synthetic(n: int, seed: int) -> list[dict]:
    """Dialogues whose empathy score is the number of warm replies (0-4) among 5."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(0, 4)
        replies = [rng.choice(WARM) for _ in range(k)] + [rng.choice(COLD) for _ in range(5 - k)]
        rng.shuffle(replies)
        utts = ["AI assistant：Hello, tell me what's on your mind."]
        for r in replies:
            utts += ["ESC-Role：I had a terrible week at work.", "AI assistant：" + r]
        out.append({"utterances": utts, "scores": {"empathic": k, "fluency": 3}, "language": "en"})
    return out


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELWORKS_CACHE", str(tmp_path / "cache"))


def test_metrics_by_hand():
    assert exact_accuracy([1, 2, 3], [1, 2, 4]) == pytest.approx(2 / 3)
    assert soft_accuracy([0, 2, 4], [1, 4, 4]) == pytest.approx(2 / 3)
    assert list(to_levels([-0.7, 1.49, 1.51, 9], 0, 4)) == [0, 1, 2, 4]
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    # ties averaged: ranks [1, 2.5, 2.5, 4] vs [1, 3, 2, 4]; centred [-1.5, 0, 0, 1.5] and [-1.5, .5, -.5, 1.5]
    # -> Pearson of ranks 4.5 / sqrt(4.5 * 5) = sqrt(0.9) = 0.9487 (the no-ties formula would give 0.95)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9 ** 0.5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9487, abs=5e-5)
    # monotone but not linear: rank correlation 1 (Pearson on the values would be about 0.8)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 100]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [100, 9, 4, 1]) == pytest.approx(-1.0)


def test_light_scorer_beats_majority_on_synthetic(tmp_path, cache, cli):
    train = write_jsonl(tmp_path / "train.jsonl", synthetic(80, 0))
    test_rows = synthetic(40, 1)
    test = write_jsonl(tmp_path / "test.jsonl", test_rows)
    from modelworks.esc.rank.recipes import train_on_annotations

    info = train_on_annotations(train, tmp_path / "scorer")
    assert info["dimensions"] == ["fluency", "empathic"] and info["dialogues"] == 80
    r = cli("esc", "rank", "evaluate", "--scorer", str(tmp_path / "scorer"), "--data", str(test), "--json",
            env={"MODELWORKS_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    emp = res["dimensions"]["empathic"]
    gold = [row["scores"]["empathic"] for row in test_rows]
    majority = max(set(gold), key=[g for g in gold].count)
    maj_acc = exact_accuracy([majority] * len(gold), gold)
    assert emp["n"] == 40
    assert emp["acc"] > maj_acc + 0.1
    assert emp["spearman"] > 0.6
    assert emp["acc_soft"] >= emp["acc"]
    # the trained scorer scores a run's dialogues into ESC-Eval's score format
    from modelworks.chat import MockChat
    from modelworks.esc.runner import EscRunConfig, run_esc
    from modelworks.esc.scoring import rank_run, read_scores

    cards = [{"base": "Age: 1\nProblem: a", "base_biaozhu": "x", "res": "家庭生活", "source": "ESconv",
              "language": "english", "id": 1}]
    (tmp_path / "c.json").write_text(json.dumps(cards), encoding="utf-8")
    run = run_esc(EscRunConfig(cards=str(tmp_path / "c.json")), tmp_path / "run",
                  agent=MockChat(fn=lambda m: "I had a terrible week at work."), model=MockChat(fn=lambda m: WARM[0]))
    rank_run(run, tmp_path / "scorer")
    s = read_scores(run)["0"]
    assert set(s) == {"empathic", "fluency"} and s["empathic"] >= 3


def test_ordinal_head_and_esconv_format_cli(tmp_path, cache, cli):
    rng = random.Random(0)
    rows = []
    for i in range(60):
        k = rng.randint(0, 4)
        dialog = []
        for j in range(5):
            dialog += [{"text": "I lost my job and feel awful.", "speaker": "usr"},
                       {"text": rng.choice(WARM) if j < k else rng.choice(COLD), "speaker": "sys", "strategy": "Others"}]
        survey = {"initial_emotion_intensity": "5"}
        if i % 10:
            survey.update({"empathy": str(k + 1), "relevance": "4", "final_emotion_intensity": str(5 - k)})
        rows.append({"id": i, "dialog": dialog, "survey_score": {"seeker": survey, "supporter": {}}})
    data = write_jsonl(tmp_path / "esconv.jsonl", rows)
    env = {"MODELWORKS_CACHE": str(tmp_path / "cache")}
    r = cli("esc", "rank", "train", "--data", str(data), "--target", "empathy", "--target", "intensity_drop",
            "--head", "ordinal", "--out", str(tmp_path / "s"), env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["skipped_without_survey"] == {"empathy": 6, "intensity_drop": 6}
    r = cli("esc", "rank", "evaluate", "--scorer", str(tmp_path / "s"), "--data", str(data), "--target", "empathy",
            "--json", env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert {"spearman", "acc_soft", "n"} <= set(res)
    assert res["n"] == 54 and res["skipped"] == 6 and res["spearman"] > 0.5 and 0 <= res["acc_soft"] <= 1
    r = cli("esc", "rank", "evaluate", "--scorer", str(tmp_path / "s"), "--data", str(data), "--target", "relevance",
            env=env)
    assert r.returncode == 2 and "predicts empathy, intensity_drop, not 'relevance'" in r.stderr
    ann = write_jsonl(tmp_path / "ann.jsonl", synthetic(5, 0))
    r = cli("esc", "rank", "evaluate", "--scorer", str(tmp_path / "s"), "--data", str(ann), env=env)
    assert r.returncode == 2 and "scores none of them" in r.stderr
    # an ESConv scorer (empathy, intensity_drop) cannot score a run's 7 ESC-Eval dimensions: refused, scores kept
    from modelworks.chat import MockChat
    from modelworks.esc.runner import EscRunConfig, run_esc

    cards = [{"base": "Age: 1\nProblem: a", "base_biaozhu": "x", "res": "家庭生活", "source": "ESconv",
              "language": "english", "id": 1}]
    (tmp_path / "c.json").write_text(json.dumps(cards), encoding="utf-8")
    run = run_esc(EscRunConfig(cards=str(tmp_path / "c.json")), tmp_path / "run", agent=MockChat(fn=lambda m: "hi"),
                  model=MockChat(fn=lambda m: "hello"))
    (run / "scores.json").write_text('{"0": {"fluency": 3}}', encoding="utf-8")
    r = cli("esc", "rank", "score", "--run", str(run), "--scorer", str(tmp_path / "s"), env=env)
    assert r.returncode == 2 and "predicts empathy, intensity_drop, not ESC-Eval dimensions" in r.stderr
    assert (run / "scores.json").read_text(encoding="utf-8") == '{"0": {"fluency": 3}}'


def test_bad_annotation_input_one_line(tmp_path, cli):
    cases = [
        ({"utterances": ["AI assistant：hi", "ESC-Role：x", "AI assistant：y"], "scores": {"empathic": 7}},
         "score 'empathic' must be an integer 0..4"),
        ({"utterances": ["AI assistant：hi", "ESC-Role：x", "AI assistant：y"], "scores": {"kindness": 2}},
         "unknown dimension 'kindness'"),
        ({"scores": {"empathic": 2}}, "missing field 'utterances'"),
        ({"utterances": ["hi", "ESC-Role：x", "AI assistant：y"], "scores": {"empathic": 2}},
         "utterance 0 must start with 'AI assistant："),
    ]
    for row, msg in cases:
        f = write_jsonl(tmp_path / "bad.jsonl", [row])
        r = cli("esc", "rank", "train", "--annotations", str(f), "--out", str(tmp_path / "s"))
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "bad.jsonl:1" in r.stderr  # file and line, in the project-wide "<file>:<line>" form
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    r = cli("esc", "rank", "train", "--annotations", str(tmp_path / "broken.jsonl"), "--out", str(tmp_path / "s"))
    assert r.returncode == 2 and "broken.jsonl:1: not valid JSON" in r.stderr
    r = cli("esc", "rank", "evaluate", "--scorer", str(tmp_path / "nope"), "--data", str(tmp_path / "broken.jsonl"))
    assert r.returncode == 2 and "not a scorer folder" in r.stderr


@pytest.mark.slow
def test_lora_form_trains_adapters_per_dimension_and_language(tmp_path, tiny_lm_dir):
    from modelworks.esc.rank.recipes import evaluate_scorer, train_on_annotations

    rows = synthetic(4, 2)
    rows += [{**r, "language": "zh"} for r in synthetic(2, 3)]
    data = write_jsonl(tmp_path / "a.jsonl", rows)
    info = train_on_annotations(data, tmp_path / "lora", form="lora", base_model=str(tiny_lm_dir), epochs=3,
                                lr=3e-3, max_length=96)
    assert info["adapters"] == ["empathic_en", "empathic_zh", "fluency_en", "fluency_zh"]
    for name, h in info["history"].items():
        assert h["last_loss"] < h["first_loss"], name
        assert (tmp_path / "lora" / "adapters" / name / "adapter_config.json").is_file()
    res = evaluate_scorer(tmp_path / "lora", data)
    assert set(res["dimensions"]) == {"empathic", "fluency"}
    for v in res["dimensions"].values():
        assert 0.0 <= v["acc"] <= v["acc_soft"] <= 1.0 and v["n"] == 6


def test_lora_needs_base_model(tmp_path):
    from modelworks.esc.rank.recipes import train_on_annotations

    data = write_jsonl(tmp_path / "a.jsonl", synthetic(3, 0))
    with pytest.raises(UserError, match="--base-model"):
        train_on_annotations(data, tmp_path / "x", form="lora")


def test_official_example_scores_as_annotations(tmp_path, shared_data):
    from modelworks.esc.rank.annotations import load_annotations, pair_files

    ex = shared_data / "esc" / "examples"
    rows = pair_files(ex / "dialogue_Qwen_7B_en.json", ex / "esc_rank_scores_Qwen_7B_en.json", "en")
    rows += pair_files(ex / "dialogue_Qwen_7B_zh.json", ex / "esc_rank_scores_Qwen_7B_zh.json", "zh")
    items = load_annotations(write_jsonl(tmp_path / "ex.jsonl", rows))
    assert len(items) == 6 and {it.language for it in items} == {"en", "zh"}
    assert items[0].scores == {"fluency": 3, "diversity": 3, "empathic": 3, "suggestion": 3, "human": 1, "tech": 3,
                               "overall": 2}


def test_feature_layout_and_old_scorer_rejected(tmp_path):
    from modelworks.esc.rank.features import (
        COMPACT_COLS,
        EMBED_COLS,
        FEATURE_DIM,
        LEXICAL_COLS,
        dialogue_features,
        hashed_words,
        turn_statistics,
    )
    from modelworks.esc.rank.light import ESCONV_ALPHAS, LightScorer, train_light

    assert EMBED_COLS.start == 0 and COMPACT_COLS.start < EMBED_COLS.stop and LEXICAL_COLS.stop == FEATURE_DIM
    v = hashed_words("Thanks thanks, that HELPED a lot!")
    assert v.shape == (LEXICAL_COLS.stop - LEXICAL_COLS.start,) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(v, hashed_words("thanks that helped lot thanks"))  # case, punctuation, 1-letter words
    assert np.count_nonzero(v) == 4 and not hashed_words("a ?").any()

    class FakeEncoder:  # deterministic unit vectors per text, no model
        def encode(self, texts):
            out = np.stack([np.random.default_rng(sum(map(ord, t))).normal(size=384) for t in texts]).astype(np.float32)
            return out / np.linalg.norm(out, axis=1, keepdims=True)

    turns = [("seeker", "I lost my job."), ("supporter", "I'm sorry. What happened?"), ("seeker", "Thanks, I feel better.")]
    e = FakeEncoder().encode([t for _, t in turns])
    stats = turn_statistics(turns, e, np.zeros((2, 10), dtype=np.float32))
    assert stats[0] == pytest.approx(np.log1p(1)) and stats[1] == pytest.approx(np.log1p(2))
    assert stats[2] == 1.0 and stats[3] == 0.0 and stats[4] == pytest.approx(float(e[1] @ e[0]))
    assert stats[15] == 1.0  # the supporter speaks in the first person
    x = dialogue_features(FakeEncoder(), [turns, turns[:1], []])
    assert x.shape == (3, FEATURE_DIM) and np.isfinite(x).all()

    rng = np.random.default_rng(0)
    xs = rng.normal(size=(30, FEATURE_DIM)).astype(np.float32)
    y = xs[:, 0] + xs[:, LEXICAL_COLS.start]
    s = train_light(xs, {"empathy": list(y)}, 1, 5, alphas=ESCONV_ALPHAS)
    assert s.meta["alphas"] == list(ESCONV_ALPHAS) and len(s.heads["empathy"].heads) == 3
    s.save(tmp_path / "s")
    again = LightScorer.load(tmp_path / "s")
    assert np.allclose(again.predict_features(xs, "empathy"), s.predict_features(xs, "empathy"))
    with pytest.raises(UserError, match="one penalty per feature group"):
        train_light(xs, {"empathy": list(y)}, 1, 5, alphas=(1.0,))
    spec = json.loads((tmp_path / "s" / "scorer.json").read_text(encoding="utf-8"))
    del spec["meta"]["feature_version"]  # a scorer saved before the v2 layout
    (tmp_path / "s" / "scorer.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(UserError, match="layout v1.*retrain"):
        LightScorer.load(tmp_path / "s")
    s.save(tmp_path / "s2")
    heads = (tmp_path / "s2" / "heads.npz").read_bytes()
    for content in (b"", heads[: len(heads) // 2]):  # empty or cut short
        (tmp_path / "s2" / "heads.npz").write_bytes(content)
        with pytest.raises(UserError, match="scorer files are damaged or incomplete"):
            LightScorer.load(tmp_path / "s2")
    (tmp_path / "s2" / "scorer.json").write_text("{", encoding="utf-8")
    with pytest.raises(UserError, match=r"scorer\.json: not valid JSON"):
        LightScorer.load(tmp_path / "s2")


def test_train_out_that_is_a_file_fails_before_training(tmp_path, cli):
    (tmp_path / "taken").write_text("keep")
    r = cli("esc", "rank", "train", "--data", str(tmp_path / "none.jsonl"), "--target", "empathy",
            "--out", str(tmp_path / "taken"))
    assert r.returncode == 2 and "taken is a file, not a folder" in r.stderr
    assert (tmp_path / "taken").read_text() == "keep"


def test_esconv_reader_ids_and_errors(tmp_path):
    from modelworks.esc.rank.esconv import load_esconv

    turn = {"speaker": "usr", "text": "hi"}
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps({"id": 7, "dialog": [turn]}) + "\n\n" + json.dumps({"dialog": [turn]}) + "\n")
    assert [c.id for c in load_esconv(f)] == ["7", "2"]  # no id: the 0-based line number
    (tmp_path / "a.json").write_text(json.dumps([{"dialog": [turn]}, {"dialog": [turn]}]))
    assert [c.id for c in load_esconv(tmp_path / "a.json")] == ["0", "1"]
    f.write_text(json.dumps({"dialog": [turn]}) + "\n{oops\n")
    with pytest.raises(UserError, match=r"c\.jsonl:2: not valid JSON"):
        load_esconv(f)
    f.write_text(json.dumps({"dialog": [{"speaker": "bot", "text": "x"}]}) + "\n")
    with pytest.raises(UserError, match=r"c\.jsonl:1: dialog\[0\] field 'speaker'"):
        load_esconv(f)
    with pytest.raises(UserError, match="ESConv file not found"):
        load_esconv(tmp_path / "none.jsonl")
    for survey, msg in (("high", "field 'survey_score' must be an object"),
                        ({"seeker": {"empathy": "9"}}, r"c\.jsonl:1: survey_score\.seeker\.empathy must be a rating 1-5"),
                        ({"seeker": {"relevance": "good"}}, "survey_score.seeker.relevance must be a rating")):
        f.write_text(json.dumps({"dialog": [turn], "survey_score": survey}) + "\n")
        with pytest.raises(UserError, match=msg):
            load_esconv(f)


def _esconv_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = rng.randint(0, 4)
        dialog = []
        for j in range(3):
            dialog += [{"text": "I lost my job and feel awful.", "speaker": "usr"},
                       {"text": rng.choice(WARM) if j < k else rng.choice(COLD), "speaker": "sys"}]
        survey = {"empathy": str(k + 1), "relevance": "4"} if i % 5 else {}
        rows.append({"id": i, "dialog": dialog, "survey_score": {"seeker": survey, "supporter": {}}})
    return rows


def test_esconv_rating_prompt_and_parse(tmp_path):
    from modelworks.esc.rank.lora import esconv_prompt, parse_rating, rating_template

    turns = [("seeker", "I feel alone."), ("supporter", "That sounds hard. {question} stays as typed.")]
    text = esconv_prompt(turns, "empathy")
    assert "Seeker: I feel alone.\n\nSupporter: That sounds hard. {question} stays as typed." in text
    assert "understood and shared the seeker's feelings" in text and "{dialogue}" not in text
    own = tmp_path / "official.txt"
    own.write_bytes(b"Rate {question}:\r\n{dialogue}\r\nRating (1-5)? {other}\n")
    assert esconv_prompt(turns[:1], "relevance", rating_template(own)) == (
        "Rate how relevant the supporter's replies were to what the seeker talked about:\r\n"
        "Seeker: I feel alone.\r\nRating (1-5)? {other}\n")  # verbatim: only the two slots are filled
    (tmp_path / "no_slot.txt").write_text("Rate {question}. Answer 1-5.")
    with pytest.raises(UserError, match="no {dialogue} slot"):
        rating_template(tmp_path / "no_slot.txt")
    with pytest.raises(UserError, match="not found"):
        rating_template(tmp_path / "missing.txt")
    for reply, want in (("4", 4), ("I'd say 5.", 5), ("0 then 3", 3), ("10", -1), ("-3", -1), ("4.5", -1),
                        ("Rating: 3/5", 3), ("9", -1), ("", -1), (None, -1)):
        assert parse_rating(reply) == want, reply
    with pytest.raises(UserError, match="rates empathy, relevance .* not 'intensity_drop'"):
        esconv_prompt(turns, "intensity_drop")


@pytest.mark.slow
def test_lora_form_on_esconv_ratings(tmp_path, tiny_lm_dir, cli):
    from modelworks.esc.rank.recipes import evaluate_scorer, train_on_esconv

    data = write_jsonl(tmp_path / "esconv.jsonl", _esconv_rows(20))
    info = train_on_esconv(data, ["empathy"], tmp_path / "lora", form="lora", base_model=str(tiny_lm_dir), epochs=10,
                           lr=1e-2, max_length=160)
    assert info["adapters"] == ["empathy"] and info["skipped_without_survey"] == {"empathy": 4}
    h = info["history"]["empathy"]
    assert h["last_loss"] < h["first_loss"]
    assert (tmp_path / "lora" / "adapters" / "empathy" / "adapter_config.json").is_file()
    res = evaluate_scorer(tmp_path / "lora", data, "empathy")
    assert res["n"] == 16 and res["skipped"] == 4 and 0.0 <= res["acc"] <= res["acc_soft"] <= 1.0
    assert res["invalid"] < 16  # the adapter answers with a rating 1-5
    spec = json.loads((tmp_path / "lora" / "scorer.json").read_text())
    assert spec["kind"] == "esconv" and "{dialogue}" in spec["template_text"]  # the prompt is kept with the adapters
    no_rel = write_jsonl(tmp_path / "no_rel.jsonl", [
        {**r, "survey_score": {"seeker": {"empathy": "3"}, "supporter": {}}} for r in _esconv_rows(4)])
    with pytest.raises(UserError, match="no conversation has a post-chat survey for 'relevance'"):
        train_on_esconv(no_rel, ["empathy", "relevance"], tmp_path / "two", form="lora", base_model=str(tiny_lm_dir))
    assert not (tmp_path / "two").exists()  # refused before the first adapter is trained
    # the CLI: a template name that --data does not use, and --template with the light form
    for extra, msg in ((["--form", "lora", "--template", "rank_prompt=x.txt"], "takes esconv_rating=FILE only"),
                       (["--template", "esconv_rating=x.txt"], "--template applies to the LoRA form"),
                       (["--form", "lora", "--template", "esconv_rating="], "must look like NAME=FILE")):
        r = cli("esc", "rank", "train", "--data", str(data), "--out", str(tmp_path / "s"), *extra)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = cli("esc", "rank", "train", "--data", str(data), "--target", "intensity_drop", "--form", "lora",
            "--base-model", str(tiny_lm_dir), "--out", str(tmp_path / "s2"))
    assert r.returncode == 2 and "not 'intensity_drop'" in r.stderr, r.stderr
    assert not (tmp_path / "s2").exists()  # refused before anything is written
