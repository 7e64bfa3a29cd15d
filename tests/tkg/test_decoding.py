import pytest

from modelworks.errors import UserError
from modelworks.tkg.decoding import EntityTrie, constrained_beam_search, evaluate_llm
from modelworks.tkg.prompts import PromptConfig

from ._graphs import chain_graph

NAMES = ["China", "Chile", "Japan", "Japan_Airlines", "Citizen_(Nigeria)", "Iran", "Iraq"]


def test_trie_contains_exact_sequences():
    trie = EntityTrie.build([[1, 2, 0], [1, 3, 0], [1, 2, 4, 0]])
    assert trie.contains([1, 2, 0]) and trie.contains([1, 2, 4, 0])
    assert not trie.contains([1, 2]) and not trie.contains([1, 4, 0])
    assert trie.depth == 4


@pytest.fixture(scope="module")
def lm(tiny_lm_dir):
    from modelworks.models import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_lm_dir), load_tokenizer(tiny_lm_dir)


def test_every_beam_is_a_valid_entity(lm):
    model, tok = lm
    trie = EntityTrie.from_strings(tok, NAMES)
    prompts = ["7: [China, Consult, ", "9: [Iran, Make_statement, ", "question 3: what is"]
    out = constrained_beam_search(model, tok, prompts, trie, beams=4, batch_size=2)
    assert len(out) == 3
    for res in out:
        assert len(res) == 4
        assert all(0 <= idx < len(NAMES) for idx, _ in res)
        assert [s for _, s in res] == sorted((s for _, s in res), reverse=True)
        assert len({idx for idx, _ in res}) == 4


def test_beam_covering_all_candidates_equals_exact_scores(lm):
    import torch

    model, tok = lm
    trie = EntityTrie.from_strings(tok, NAMES)
    prompt = "7: [China, Consult, "
    (res,) = constrained_beam_search(model, tok, [prompt], trie, beams=len(NAMES))
    p_ids = tok(prompt)["input_ids"]
    exact = {}
    for i, name in enumerate(NAMES):
        c = tok(name, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([p_ids + c])).logits[0].float(), -1)
        exact[i] = sum(float(logp[len(p_ids) - 1 + k, t]) for k, t in enumerate(c))
    assert sorted(idx for idx, _ in res) == list(range(len(NAMES)))
    for idx, score in res:
        assert score == pytest.approx(exact[idx], abs=1e-3)


def test_per_prompt_tries(lm):
    model, tok = lm
    tries = [EntityTrie.from_strings(tok, ["0.China", "Chile"]), EntityTrie.from_strings(tok, ["Iraq"])]
    out = constrained_beam_search(model, tok, ["a", "b"], tries, beams=5)
    assert len(out[0]) == 2
    assert {i for i, _ in out[0]} == {0, 1} and [i for i, _ in out[1]] == [0]


def test_evaluate_llm_on_synthetic(tiny_lm_dir, tmp_path):
    from modelworks.tkg.datasets import load_tkg
    from modelworks.tkg.decoding import evaluate_llm
    from modelworks.tkg.prompts import PromptConfig
    from modelworks.tkg.synthetic import SyntheticConfig, write_synthetic

    ds = load_tkg(write_synthetic(SyntheticConfig(entities=12, relations=2, timestamps=30, streams=20), tmp_path / "d"))
    for style in ("text", "text+index"):
        res = evaluate_llm(ds, str(tiny_lm_dir), PromptConfig(history=4, style=style), beams=3, limit=4,
                           batch_size=8, device="cpu")
        assert res["queries"] == 4
        for setting in ("raw", "time_aware_filtered"):
            assert 0.0 <= res[setting]["hits@1"] <= res[setting]["hits@3"] <= 1.0


@pytest.mark.parametrize("kwargs,needle", [
    ({"beams": 0}, "--beams"), ({"batch_size": 0}, "--batch-size"), ({"limit": -2}, "--limit"),
    ({"split": "bogus"}, "--split"), ({"device": "gpu"}, "--device"),
])
def test_evaluate_llm_checks_arguments_before_loading_the_model(tmp_path, kwargs, needle):
    with pytest.raises(UserError, match=needle):
        evaluate_llm(chain_graph(), str(tmp_path / "no-model"), PromptConfig(history=2), **kwargs)


def test_evaluate_llm_rejects_cuda_without_a_gpu(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="--device is .cuda. but torch sees no CUDA GPU"):
        evaluate_llm(chain_graph(), str(tmp_path / "no-model"), PromptConfig(history=2), device="cuda")
