"""`modelworks unlearn`: MEOW unlearning with MEMO-selected inverted facts; TOFU protocol and baselines."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from modelworks.errors import UserError
from modelworks.jsonl import shown

app = typer.Typer(help="MEOW unlearning with MEMO-selected inverted facts; TOFU protocol and baselines.",
                  no_args_is_help=True)


@app.command("tofu-metrics")
def tofu_metrics_cmd(
    model_logs: Path = typer.Option(..., "--model-logs", help="TOFU eval_log_aggregated.json-style file of the model"),
    retain_logs: Path | None = typer.Option(None, "--retain-logs", help="the same for the retain model (for FQ)"),
    truth_ratio: str = typer.Option("tofu", "--truth-ratio", help="tofu (official) or meow (MEOW utils variant)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Model Utility, Forget Quality and the 12 TOFU numbers from eval logs."""
    from modelworks.unlearn.metrics import load_eval_log, tofu_metrics

    if truth_ratio not in ("tofu", "meow"):
        raise UserError(f"--truth-ratio must be tofu or meow, got '{truth_ratio}'")
    model = load_eval_log(model_logs, need_forget=retain_logs is not None)
    retain = load_eval_log(retain_logs) if retain_logs is not None else None
    out = tofu_metrics(model, retain, truth_ratio)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps(out))
        return
    from rich.console import Console

    from modelworks.report import rich_table

    Console().print(rich_table("TOFU metrics", ["metric", "value"], [(k, v) for k, v in out.items()], digits=4))


@app.command("generate-data")
def generate_data_cmd(
    out: Path = typer.Option(..., "--out", help="directory to write TOFU-format split files into"),
    authors: int = typer.Option(20, "--authors"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write our seeded fictitious-author QA set in TOFU's format."""
    from modelworks.unlearn.tofu_generator import generate_tofu

    typer.echo(str(generate_tofu(out, authors, seed=seed)))


@app.command("memo")
def memo_cmd(
    model: str = typer.Option(..., "--model", help="local HF model directory"),
    data: Path = typer.Option(..., "--data", help="JSON rows with question + answer (or a MEOW inverted-facts file)"),
    mode: str = typer.Option("suffix", "--mode", help="suffix or prefix"),
    step: int = typer.Option(5, "--step", help="sliding step in characters"),
    max_new_tokens: int = typer.Option(200, "--max-new-tokens"),
    batch_size: int = typer.Option(64, "--batch-size"),
    template: bool = typer.Option(False, "--template/--raw", help="wrap questions in the QA template (default raw)"),
    out: Path | None = typer.Option(None, "--out", help="run directory (default runs/unlearn-memo-<UTC>)"),
) -> None:
    """MEMO of every answer (and every inverted answer of a MEOW file); scores per sample in the run."""
    from modelworks.chat import get_model
    from modelworks.runs import Run
    from modelworks.unlearn.inverted import load_meow_inverted
    from modelworks.unlearn.memo import hf_generate_fn, memo_scores
    from modelworks.unlearn.qa import QATemplate

    if mode not in ("suffix", "prefix"):
        raise UserError(f"--mode must be suffix or prefix, got '{mode}'")
    for name, value in (("--step", step), ("--max-new-tokens", max_new_tokens), ("--batch-size", batch_size)):
        if value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    from modelworks.jsonl import read_json

    raw = read_json(data, "data file")
    if raw and isinstance(raw, list) and isinstance(raw[0], dict) and "undesired_answer" in raw[0]:
        rows = [{"question": r["question"], "answers": {"undesired_answer": r["answer"],
                 **{f"answer_{i}": a for i, a in enumerate(r["inverted"])}}} for r in load_meow_inverted(data)]
    else:
        if not isinstance(raw, list) or not all(isinstance(r, dict) and "question" in r and "answer" in r for r in raw):
            raise UserError(f"{data}: expected a JSON array of rows with keys question and answer")
        for i, r in enumerate(raw):
            bad = next((k for k in ("question", "answer") if not isinstance(r[k], str)), None)
            if bad is not None:
                raise UserError(f"{data}: row {i} key '{bad}' must be a string, got {shown(r[bad])}")
        rows = [{"question": r["question"], "answers": {"answer": r["answer"]}} for r in raw]
    if not rows:
        raise UserError(f"{data}: no rows to score (the file holds an empty array)")
    chat = get_model(f"hf/{model}")
    tmpl = QATemplate()
    prompt_of = (lambda q: tmpl.prompt(q) + tmpl.answer_start) if template else None
    pairs = [(r["question"], a) for r in rows for a in r["answers"].values()]
    gen = hf_generate_fn(chat.model, chat.tokenizer, max_new_tokens, batch_size)  # type: ignore[attr-defined]
    scores = memo_scores(gen, pairs, mode, step, batch_size, prompt_of)  # type: ignore[arg-type]
    run = Run.create("unlearn-memo", config={"model": model, "data": str(data), "mode": mode, "step": step,
                                             "max_new_tokens": max_new_tokens}, out=out)
    k, per = 0, []
    for r in rows:
        rec = {"question": r["question"]}
        for key, ans in r["answers"].items():
            rec[key] = ans
            rec[f"{key}_memo"] = scores[k]
            k += 1
        per.append(rec)
    run.write_json("memo_scores.json", per)
    mean = sum(scores) / len(scores) if scores else 0.0
    run.write_results({"n_pairs": len(scores), "mean_memo": mean, "mode": mode, "step": step})
    run.close()
    typer.echo(json.dumps({"run": str(run.dir), "n_pairs": len(scores), "mean_memo": mean}))


@app.command("invert")
def invert_cmd(
    data: Path = typer.Option(..., "--data", help="TOFU-format directory"),
    split: str = typer.Option("forget10", "--split"),
    source: str = typer.Option("offline", "--source", help="offline, or a chat spec such as openai/gpt-4o or mock"),
    n: int = typer.Option(4, "--n"),
    template_file: Path | None = typer.Option(None, "--template", help="prompt template file, used verbatim"),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL"),
    out: Path = typer.Option(..., "--out", help="output JSON file"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Inverted facts for a forget split: offline span swapping or any chat provider."""
    from modelworks.runs import atomic_write_json, check_out_path
    from modelworks.unlearn.inverted import invert_with_chat, load_template, offline_invert
    from modelworks.unlearn.tofu import check_forget_split, load_split, retain_split_for

    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    check_out_path(out, kind="file")
    rows = load_split(data, split)
    check_forget_split(rows, f"{data}/{split}")
    if source == "offline":
        retain = load_split(data, retain_split_for(split))
        forbidden = []
        for name in (f"{split}_perturbed", "retain_perturbed"):
            try:
                forbidden += [p for r in load_split(data, name) for p in r["perturbed_answer"]]
            except UserError:
                pass
        res = offline_invert(rows, [r["answer"] for r in retain], n, seed, forbidden)
    else:
        from modelworks.chat import get_model

        opts = {"base_url": base_url} if base_url else {}
        res = invert_with_chat(get_model(source, **opts), rows, n, load_template(template_file))
    atomic_write_json(out, res)
    typer.echo(json.dumps({"out": str(out), "rows": len(res), "answers": sum(len(r["inverted"]) for r in res)}))


def _load(config: Path, overrides: list[str]):
    from modelworks.config import load_config
    from modelworks.env import check_device
    from modelworks.unlearn.config import UnlearnConfig

    cfg = load_config(UnlearnConfig, config, overrides)
    try:
        check_device(cfg.device, allowed=("cpu", "cuda", "mps"))
    except UserError as exc:
        raise UserError(f"{config}: {exc}") from None
    return cfg


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="YAML config (configs/unlearn/*.yaml)"),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. unlearn.method=npo"),
    out: Path | None = typer.Option(None, "--out", help="run directory (default runs/unlearn-<UTC>)"),
) -> None:
    """Fine-tune (or load) target and retain models, unlearn with unlearn.method, evaluate, report."""
    from modelworks.unlearn.recipe import run_experiment

    cfg = _load(config, overrides or [])
    run, res = run_experiment(cfg, [cfg.unlearn.method], out=out, job="unlearn")
    _print(res, run.dir)


@app.command("compare")
def compare_cmd(
    config: Path = typer.Argument(..., help="YAML config (configs/unlearn/*.yaml)"),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. unlearn.methods=[meow,npo]"),
    out: Path | None = typer.Option(None, "--out", help="run directory (default runs/unlearn-compare-<UTC>)"),
) -> None:
    """Run every method in unlearn.methods against the same target/retain models; print the table."""
    from modelworks.unlearn.recipe import run_experiment

    cfg = _load(config, overrides or [])
    if not cfg.unlearn.methods:
        raise UserError(f"{config}: key 'unlearn.methods' is empty")
    run, res = run_experiment(cfg, cfg.unlearn.methods, out=out, job="unlearn-compare")
    _print(res, run.dir)


def _print(res, run_dir: Path) -> None:
    from rich.console import Console

    from modelworks.report import rich_table
    from modelworks.unlearn.tables import comparison_headers, comparison_rows

    c = Console(width=max(Console().width, 160))
    c.print(rich_table(f"TOFU {res['data']['forget_split']}", comparison_headers, comparison_rows(res), digits=3))
    c.print(f"run: {run_dir}")


@app.command("utility")
def utility_cmd(
    model: Path | None = typer.Option(None, "--model", help="local HF model directory (for --mc)"),
    mc: Path | None = typer.Option(None, "--mc", help="JSONL: question, choices, answer (index)"),
    nlg: Path | None = typer.Option(None, "--nlg", help="JSONL: reference, generation (BLEU, Rep-3)"),
) -> None:
    """NLU / NLG utility: log-likelihood multiple-choice accuracy, BLEU and Rep-3."""
    from modelworks.unlearn.utility import bleu, load_mc_jsonl, load_nlg_jsonl, multiple_choice_accuracy, rep_n

    if mc is None and nlg is None:
        raise UserError("give --mc FILE (with --model) and/or --nlg FILE")
    out: dict = {}
    if mc is not None:
        if model is None:
            raise UserError("--mc needs --model DIR")
        from modelworks.models import load_causal_lm, load_tokenizer

        rows = load_mc_jsonl(mc)
        out["mc"] = multiple_choice_accuracy(load_causal_lm(model), load_tokenizer(model, padding_side="right"), rows)
    if nlg is not None:
        pairs = load_nlg_jsonl(nlg)
        gens = [g for _, g in pairs]
        out["nlg"] = {"bleu": bleu([r for r, _ in pairs], gens), "rep3": rep_n(gens, 3), "n": len(pairs)}
    typer.echo(json.dumps(out))
