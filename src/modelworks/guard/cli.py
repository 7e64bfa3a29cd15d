"""`modelworks guard`: MLLMGuard — build red-team samples, run a model, score, ASD/PAR, judges, report."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="MLLMGuard: multimodal safety evaluation, GuardRank judges, ASD/PAR metrics.",
    no_args_is_help=True,
)
judge_app = typer.Typer(help="Binary safety judge (HarmBench-style): train and validate against human labels.",
                        no_args_is_help=True)
guardrank_app = typer.Typer(help="GuardRank: per-dimension 0-3 response scorers.", no_args_is_help=True)
app.add_typer(judge_app, name="judge")
app.add_typer(guardrank_app, name="guardrank")


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.command()
def build(
    out: Path = typer.Option(..., "--out", help="Folder for samples.jsonl and imgs/."),
    config: Path = typer.Option(None, "--config", help="YAML with BuildConfig keys (configs/guard/build.yaml)."),
    requests: Path = typer.Option(None, "--requests", help="JSONL of {request, dimension, subtask, language}."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. noise_pairs=10."),
) -> None:
    """Build red-team samples: typographic images, text templates, noise and position-swap pairs."""
    from modelworks.config import load_config
    from modelworks.guard.build import BuildConfig, build_samples, read_requests

    cfg = load_config(BuildConfig, config, overrides or [])
    samples = build_samples(out, read_requests(requests) if requests else None, cfg)
    typer.echo(f"wrote {len(samples)} samples to {out / 'samples.jsonl'}")


@app.command()
def run(
    data: str = typer.Option(None, "--data", help="Samples JSONL, or an MLLMGuard folder (desensitize/<subset>/)."),
    model: str = typer.Option(None, "--model", help="mock | sim | openai/<model> | hf/<local dir>."),
    out: Path = typer.Option(None, "--out", help="Run folder (rerun the same folder to resume)."),
    config: Path = typer.Option(None, "--config", help="YAML with RunConfig keys (configs/guard/*.yaml)."),
    concurrency: int = typer.Option(None, "--concurrency", help="Parallel requests."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    api_key: str = typer.Option(None, "--api-key", help="API key (default $OPENAI_API_KEY)."),
    scorer: str = typer.Option(None, "--scorer", help="Also score: guardrank:DIR | llm:PROVIDER | rules."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides of RunConfig."),
) -> None:
    """Answer every sample with a model; resumable (SQLite), responses also in responses.jsonl."""
    from modelworks.config import load_config
    from modelworks.guard.runner import RunConfig, run_guard

    extra = list(overrides or [])
    for key, value in (("data", data), ("model", model), ("concurrency", concurrency), ("base_url", base_url),
                       ("api_key", api_key)):
        if value is not None:
            extra.append(f"{key}={value}")
    cfg = load_config(RunConfig, config, extra)
    if scorer:
        from modelworks.guard.scoring import check_scorer

        check_scorer(scorer)  # before any sample is answered
    run_dir = run_guard(cfg, out)
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    counts = results["counts"]
    if counts.get("error") and not counts.get("done"):
        raise UserError(f"{run_dir}: all {counts['error']} samples failed (see responses.jsonl); rerun the same "
                        "command to retry them")
    typer.echo(f"{results['model']}: {counts} -> {run_dir / 'responses.jsonl'}")
    if scorer:
        _score_and_measure(run_dir / "responses.jsonl", scorer, None, run_dir / "scores.jsonl", as_json=False)


def _score_and_measure(responses: Path, scorer: str, template: Path | None, out: Path, as_json: bool) -> None:
    from modelworks.guard.metrics import compute_metrics, read_scores
    from modelworks.guard.runner import read_responses
    from modelworks.guard.scoring import make_scorer, score_responses, write_scores

    records = score_responses(read_responses(responses), make_scorer(scorer, str(template) if template else None),
                              require_scores=True)
    write_scores(records, out)
    metrics = compute_metrics(read_scores(out))
    if as_json:
        _print_json(metrics)
    else:
        typer.echo(f"scores -> {out}; overall ASD={metrics['overall']['asd']} PAR={metrics['overall']['par']}"
                   + _unscored_note(metrics))


@app.command("eval")
def eval_(
    config: Path = typer.Option(..., "--config", help="YAML with EvalConfig keys (configs/guard/mock.yaml)."),
    out: Path = typer.Option(..., "--out", help="Folder for samples/, run/ and report/."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. run.model=openai/gpt-4o."),
) -> None:
    """Build samples (optional), run the model, score, compute ASD/PAR and write the report."""
    from modelworks.config import load_config
    from modelworks.guard.pipeline import EvalConfig, run_eval

    cfg = load_config(EvalConfig, config, overrides or [])
    result = run_eval(cfg, out)
    overall = result["metrics"]["overall"]
    typer.echo(f"overall ASD={overall['asd']} PAR={overall['par']}; report -> {result['report']}"
               + _unscored_note(result["metrics"]))


def _unscored_note(metrics: dict) -> str:
    n = metrics.get("unscored") or 0
    return f" ({n} responses unscored: see score_error in scores.jsonl; rerun to retry)" if n else ""


@app.command()
def score(
    responses: Path = typer.Option(..., "--responses", help="A run folder or its responses.jsonl."),
    scorer: str = typer.Option("rules", "--scorer", help="guardrank:DIR | llm:PROVIDER | llm:sim | rules."),
    template: Path = typer.Option(None, "--template", help="Rubric template file for llm: (used verbatim)."),
    out: Path = typer.Option(None, "--out", help="Scored JSONL (default <run>/scores.jsonl)."),
) -> None:
    """Score a run's responses (judge for open-ended answers, rules for the pair subtasks)."""
    from modelworks.runs import check_out_path

    target = check_out_path(out or ((responses if responses.is_dir() else responses.parent) / "scores.jsonl"),
                            "file")
    _score_and_measure(responses, scorer, template, target, as_json=False)


@app.command()
def metrics(
    scores: Path = typer.Option(..., "--scores", help="Scored JSONL (id, dimension, subtask, language, score, ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full JSON."),
) -> None:
    """ASD and PAR per subtask, dimension, language and overall."""
    from modelworks.guard.metrics import compute_metrics, read_scores
    from modelworks.guard.report import metrics_markdown

    result = compute_metrics(read_scores(scores))
    if as_json:
        _print_json(result)
    else:
        typer.echo(metrics_markdown({str(scores): result}))


@app.command()
def report(
    scores: list[Path] = typer.Option(..., "--scores", help="One scored JSONL per model (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Folder for report.md and the plots."),
) -> None:
    """Per-model ASD/PAR tables by dimension and language, with bar and radar plots."""
    from modelworks.guard.report import write_report

    path = write_report(scores, out)
    typer.echo(f"report -> {path}")


@judge_app.command("train")
def judge_train(
    data: Path = typer.Option(..., "--data", help="HarmBench-style JSONL with human labels."),
    out: Path = typer.Option(..., "--out", help="Folder for the trained judge."),
    config: Path = typer.Option(None, "--config", help="YAML with HarmJudgeConfig keys (configs/guard/judge.yaml)."),
    holdout: float = typer.Option(0.3, "--holdout", help="Share of BEHAVIOURS held out for validation (0 = none)."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides of HarmJudgeConfig."),
) -> None:
    """Train the CPU safety judge; holds out a share of behaviours and reports agreement on them."""
    from modelworks.config import load_config
    from modelworks.guard.judge import HarmJudgeConfig
    from modelworks.guard.judge_eval import train_judge_cli

    cfg = load_config(HarmJudgeConfig, config, overrides or [])
    result = train_judge_cli(data, out, cfg, holdout)
    _print_json(result)


@judge_app.command("evaluate")
def judge_evaluate(
    judge: str = typer.Option(..., "--judge", help="A trained judge folder, or a provider (openai/<m>, mock)."),
    data: Path = typer.Option(..., "--data", help="HarmBench-style JSONL with human labels."),
    template: Path = typer.Option(None, "--template", help="Judge prompt template for a provider judge."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server URL for a provider judge."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Agreement with the human majority (accuracy, F1, Cohen's kappa), beside the file's other judges."""
    from modelworks.guard.judge_eval import evaluate_judge_cli, format_evaluation

    result = evaluate_judge_cli(judge, data, template, base_url)
    if as_json:
        _print_json(result)
    else:
        typer.echo(format_evaluation(result))


@guardrank_app.command("train")
def guardrank_train(
    data: Path = typer.Option(..., "--data", help="JSONL with dimension, subtask, prompt, response, label."),
    out: Path = typer.Option(..., "--out", help="Folder for the trained GuardRank."),
    config: Path = typer.Option(None, "--config", help="YAML with GuardRankConfig keys."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. kind=lora base_model=DIR."),
) -> None:
    """Train GuardRank heads (encoder + logistic regression, or causal LM + LoRA)."""
    from modelworks.config import load_config
    from modelworks.guard.guardrank import GuardRank, GuardRankConfig, read_labelled

    cfg = load_config(GuardRankConfig, config, overrides or [])
    model = GuardRank.fit(read_labelled(data), cfg)
    model.save(out)
    typer.echo(f"GuardRank ({cfg.kind}) -> {out}")


@app.command()
def annotate(
    data: Path = typer.Option(..., "--data", help="A run folder / responses.jsonl to label 0-3."),
    out: Path = typer.Option(..., "--out", help="Folder for labels.sqlite."),
    annotators: list[str] | None = typer.Option(
        None, "--annotator", help="Annotator names (repeatable; default: those in OUT/annotator_tokens.json, "
        "else annotator1). Tokens are kept in that file; a name left out can no longer log in."),
    k: int = typer.Option(1, "--k", help="Annotators per item."),
    port: int = typer.Option(8765, "--port", min=1, max=65535),
) -> None:
    """Label responses 0-3 in the browser (the shared annotation app) to build GuardRank training data."""
    from modelworks.guard.annotate import serve_annotation

    serve_annotation(data, out, port, list(annotators or []), k)


@app.command("annotate-export")
def annotate_export(
    db: Path = typer.Option(..., "--db", help="labels.sqlite of `guard annotate`."),
    out: Path = typer.Option(..., "--out", help="GuardRank training JSONL to write."),
) -> None:
    """Write the finished 0-3 labels as GuardRank training data (median label per item)."""
    from modelworks.guard.annotate import export_guardrank_data

    if not db.is_file():
        raise UserError(f"labels database not found: {db}")
    n = export_guardrank_data(db, out)
    typer.echo(f"{n} labelled items -> {out}")
