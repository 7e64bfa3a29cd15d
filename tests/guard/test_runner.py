"""The runner: mock end to end, resume after SIGKILL, errors retried, HTTP against `modelworks serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelworks.chat import MockChat
from modelworks.guard.build import BuildConfig, build_samples
from modelworks.guard.runner import RunConfig, read_responses, run_guard, sample_messages
from tests._net import serve_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def samples_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    build_samples(out, config=BuildConfig(noise_pairs=3, swap_pairs=2, hallucination=2, image_size=64))
    return out / "samples.jsonl"


def test_messages_carry_images_as_base64(samples_file):
    from modelworks.chat.openai import _wire_messages
    from modelworks.guard.dataset import load_samples

    s = next(x for x in load_samples(samples_file) if x.images)
    wire = _wire_messages(sample_messages(s.to_dict(), system_prompt="be safe"))
    assert wire[0] == {"role": "system", "content": "be safe"}
    parts = wire[1]["content"]
    assert parts[0]["type"] == "image_url" and parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[-1] == {"type": "text", "text": s.prompt}


def test_mock_run_outputs(samples_file, tmp_path):
    run_dir = run_guard(RunConfig(data=str(samples_file), model="mock", concurrency=3), tmp_path / "run")
    rows = read_responses(run_dir)
    n = sum(1 for line in samples_file.read_text().splitlines() if line.strip())
    assert len(rows) == n and all(r["status"] == "done" for r in rows)
    assert all(r["response"] == r["prompt"] for r in rows)  # the echo mock answers with the prompt text
    assert (run_dir / "samples.sqlite").is_file() and (run_dir / "config.yaml").is_file()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["counts"] == {"pending": 0, "done": n, "error": 0}


def test_resume_refuses_changed_settings_or_samples(samples_file, tmp_path):
    from modelworks.errors import UserError

    data = samples_file.parent / "resume_copy.jsonl"  # beside the images its relative paths name
    data.write_text(samples_file.read_text(encoding="utf-8"), encoding="utf-8")
    out = run_guard(RunConfig(data=str(data), model="mock"), tmp_path / "run")
    before = (out / "responses.jsonl").read_text(encoding="utf-8")
    with pytest.raises(UserError, match="limit changed"):
        run_guard(RunConfig(data=str(data), model="mock", limit=3), out)
    run_guard(RunConfig(data=str(data), model="mock", concurrency=1), out)  # concurrency may change
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows[0]["prompt"] += " (edited)"  # the same file, one prompt changed under its id
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(UserError, match="have other inputs than this run's"):
        run_guard(RunConfig(data=str(data), model="mock"), out)
    assert (out / "responses.jsonl").read_text(encoding="utf-8") == before


def test_errors_recorded_then_retried(samples_file, tmp_path):
    state = {"calls": 0}

    def flaky(messages):
        state["calls"] += 1
        if state["calls"] % 3 == 0:
            raise RuntimeError("server hiccup")
        return "ok"

    cfg = RunConfig(data=str(samples_file), model="mock", concurrency=1, retries=0)
    run_dir = run_guard(cfg, tmp_path / "run", model=MockChat(fn=flaky))
    rows = read_responses(run_dir)
    failed = [r for r in rows if r["status"] == "error"]
    assert failed and all(r["error"].startswith("RuntimeError: server hiccup") for r in failed)
    run_dir = run_guard(RunConfig(data=str(samples_file), model="mock", retries=3), tmp_path / "run",
                        model=MockChat(fn=lambda m: "ok"))
    rows = read_responses(run_dir)
    assert all(r["status"] == "done" for r in rows)
    assert max(r["attempts"] for r in rows) == 2


DRIVER = """
import sys, time
from modelworks.chat import MockChat
from modelworks.guard.runner import RunConfig, run_guard
data, out, log = sys.argv[1:4]
def slow(messages):
    with open(log, "a") as fh:
        fh.write(messages[-1]["content"][-1]["text"] if isinstance(messages[-1]["content"], list) else messages[-1]["content"])
        fh.write("\\n")
    time.sleep(float(sys.argv[4]))
    return "answer"
run_guard(RunConfig(data=data, model="mock", concurrency=1), out, model=MockChat(fn=slow))
"""


def test_resume_after_sigkill(samples_file, tmp_path):
    out, log = tmp_path / "run", tmp_path / "calls.log"
    n = sum(1 for line in samples_file.read_text().splitlines() if line.strip())
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(samples_file), str(out), str(log), "0.15"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= n // 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    first_calls = len(log.read_text().splitlines())
    assert 0 < first_calls < n
    from modelworks.store import SampleStore

    with SampleStore(out / "samples.sqlite") as store:
        done_before = store.counts("guard", "mock")["done"]
    assert 0 < done_before < n
    subprocess.run([sys.executable, "-c", DRIVER, str(samples_file), str(out), str(log), "0"], cwd=REPO,
                   check=True, capture_output=True, timeout=120)
    second_calls = len(log.read_text().splitlines()) - first_calls
    assert second_calls == n - done_before  # finished samples are not asked again
    rows = read_responses(out)
    assert len(rows) == n and len({r["id"] for r in rows}) == n
    assert all(r["status"] == "done" and r["response"] == "answer" for r in rows)



def test_run_against_local_serve_over_http(samples_file, tmp_path, cli):
    with serve_cli("serve", "--model", "mock", path="/v1/models") as port:
        r = cli("guard", "run", "--data", str(samples_file), "--model", "openai/mock", "--out", str(tmp_path / "run"),
                "--base-url", f"http://127.0.0.1:{port}/v1", "--concurrency", "4", "cache=off",
                "--scorer", "llm:sim")
        assert r.returncode == 0, r.stderr
        rows = read_responses(tmp_path / "run")
        assert rows and all(x["status"] == "done" and x["response"] == x["prompt"] for x in rows)
        scores = [json.loads(line) for line in (tmp_path / "run" / "scores.jsonl").read_text().splitlines()]
        assert len(scores) == len(rows)


def test_run_bad_inputs_exit_2(tmp_path, cli):
    r = cli("guard", "run", "--data", str(tmp_path / "nope.jsonl"), "--model", "mock", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "1", "prompt": "p", "dimension": "privacy", "images": ["missing.png"]}) + "\n")
    r = cli("guard", "run", "--data", str(bad), "--model", "mock", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "image file not found" in r.stderr and "Traceback" not in r.stderr
    r = cli("guard", "run", "--data", str(bad), "--model", "nosuch/x", "--out", str(tmp_path / "r"),
            "check_images=false")
    assert r.returncode == 2 and "unknown model provider" in r.stderr
    r = cli("guard", "run", "--data", str(bad), "--model", "mock", "concurrency=0")
    assert r.returncode == 2 and "concurrency" in r.stderr


def test_all_samples_failing_or_a_failing_judge_is_an_error(samples_file, tmp_path, cli):
    r = cli("guard", "run", "--data", str(samples_file), "--model", "openai/x", "--base-url", "http://127.0.0.1:9/v1",
            "--out", str(tmp_path / "down"), "limit=3", "retries=0")
    assert r.returncode == 2 and "all 3 samples failed" in r.stderr
    run_guard(RunConfig(data=str(samples_file), model="mock"), tmp_path / "ok")
    r = cli("guard", "score", "--responses", str(tmp_path / "ok"), "--scorer", "llm:sim")
    assert r.returncode == 0, r.stderr
    scores = (tmp_path / "ok" / "scores.jsonl").read_text(encoding="utf-8")
    from modelworks.errors import UserError
    from modelworks.guard.scoring import score_responses

    def down(records):
        return [ConnectionError("judge down")] * len(records)

    with pytest.raises(UserError, match="the judge scored none of the .* responses .*judge down"):
        score_responses(read_responses(tmp_path / "ok"), down, require_scores=True)  # as the CLI calls it
    assert (tmp_path / "ok" / "scores.jsonl").read_text(encoding="utf-8") == scores


class _FakeProcessor:
    """Stands in for an HF image-text-to-text processor (no vision checkpoint exists on this machine)."""

    def __init__(self):
        self.seen = []

    def apply_chat_template(self, conv, add_generation_prompt, tokenize):
        self.seen.append(conv)
        return "|".join(p.get("text", "<image>") for m in conv for p in m["content"])

    def __call__(self, text, images, return_tensors):
        import torch

        self.images = images
        return {"input_ids": torch.ones(1, 5, dtype=torch.long), "attention_mask": torch.ones(1, 5, dtype=torch.long)}

    def batch_decode(self, ids, skip_special_tokens):
        return [" decoded:" + ",".join(str(int(v)) for v in ids[0]) + " "]


class _FakeVLM:
    def __init__(self):
        self.kwargs = None

    def generate(self, input_ids, attention_mask, **kwargs):
        import torch

        self.kwargs = kwargs
        return torch.cat([input_ids, torch.tensor([[7, 8]])], dim=1)


def test_hf_vision_path_with_stand_in_processor(samples_file, tmp_path):
    from modelworks.chat.vision import HFVisionChat
    from modelworks.guard.dataset import load_samples

    proc, vlm = _FakeProcessor(), _FakeVLM()
    chat = HFVisionChat("stand-in", device="cpu", model=vlm, processor=proc)
    s = next(x for x in load_samples(samples_file) if x.images)
    assert chat.generate(sample_messages(s.to_dict())) == "decoded:7,8"  # only the new tokens, stripped
    assert proc.seen[0][0]["content"][0] == {"type": "image"} and proc.images[0].size[0] > 0
    assert vlm.kwargs["do_sample"] is False and vlm.kwargs["max_new_tokens"] == 256
    run_dir = run_guard(RunConfig(data=str(samples_file), model="hf/stand-in", concurrency=2), tmp_path / "r",
                        model=chat)
    assert all(r["response"] == "decoded:7,8" for r in read_responses(run_dir))


def test_hf_text_only_model_drops_images_with_a_note(samples_file, tmp_path, tiny_lm_dir):
    run_dir = run_guard(RunConfig(data=str(samples_file), model=f"hf/{tiny_lm_dir}", max_tokens=4, limit=3),
                        tmp_path / "r")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["counts"]["done"] == 3 and "images were dropped" in results["notes"][0]
