"""`modelworks tkg`: temporal KG completion as event generation from history chains."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="Temporal KG completion as event generation from history chains (Chain of History).",
    no_args_is_help=True,
)


def _dataset(data: str, data_dir: str | None):
    from modelworks.tkg.datasets import find_tkg_folder, load_tkg

    return load_tkg(find_tkg_folder(data, data_dir))


def _print_metrics(title: str, res: dict) -> None:
    from rich.console import Console

    from modelworks.report import rich_table

    rows = [(k, *(res[k][m] for m in ("hits@1", "hits@3", "hits@10", "mrr"))) for k in ("raw", "time_aware_filtered")]
    Console().print(rich_table(f"{title} ({res['queries']} queries)", ["setting", "H@1", "H@3", "H@10", "MRR"], rows))


@app.command()
def stats(
    data: str = typer.Option(..., "--data", help="Dataset folder (or a name under <data root>/tkg/)."),
    data_dir: str = typer.Option(None, "--data-dir", help="Data root (default $MODELWORKS_DATA or ../shared/data)."),
) -> None:
    """Print dataset statistics as JSON."""
    ds = _dataset(data, data_dir)
    typer.echo(json.dumps(ds.statistics(), indent=2))


@app.command()
def baseline(
    data: str = typer.Option(..., "--data", help="Dataset folder (or a name under <data root>/tkg/)."),
    rule: str = typer.Option("pair-recency", "--rule", help="pair-frequency | pair-recency | entity-frequency | entity-recency"),
    history: int = typer.Option(100, "--history", help="History length L (0 = unlimited)."),
    split: str = typer.Option("test", "--split", help="valid | test"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    data_dir: str = typer.Option(None, "--data-dir", help="Data root (default $MODELWORKS_DATA or ../shared/data)."),
) -> None:
    """Rank the answers of a rule over each query's recent history (both directions, single-step)."""
    from modelworks.tkg.rules import RULES, run_rule

    if rule not in RULES:
        raise UserError(f"unknown --rule '{rule}'; choose from {', '.join(RULES)}")
    if split not in ("train", "valid", "test"):
        raise UserError(f"unknown --split '{split}'; choose from train, valid, test")
    if history < 0:
        raise UserError(f"--history must be >= 0 (0 = unlimited), got {history}")
    ds = _dataset(data, data_dir)
    res = run_rule(ds, rule, history, split)
    if as_json:
        typer.echo(json.dumps(res))
    else:
        _print_metrics(f"{rule} L={history} on {ds.name} {split}", res)


@app.command()
def export(
    data: str = typer.Option(..., "--data", help="Dataset folder (or a name under <data root>/tkg/)."),
    out: Path = typer.Option(..., "--out", help="Folder for train/valid/test .jsonl."),
    history: int = typer.Option(30, "--history", help="History length L."),
    style: str = typer.Option("text", "--style", help="text | text+index"),
    reverse: str = typer.Option("ordinary", "--reverse", help="ordinary | text-aware | position-aware | none"),
    no_augment: bool = typer.Option(False, "--no-augment", help="H_s only (no structure-based augmentation)."),
    template: Path = typer.Option(None, "--template", help="Prompt template file with {history} and {query} slots."),
    limit: int = typer.Option(0, "--limit", help="At most this many queries per split (0 = all)."),
    splits: list[str] = typer.Option(["train", "valid", "test"], "--split", help="Splits to export (repeatable)."),
    data_dir: str = typer.Option(None, "--data-dir"),
) -> None:
    """Export instruction JSONL (prompt/response) for `modelworks train data_format=instruction` (LoRA as in the paper)."""
    from modelworks.runs import check_not_run_dir
    from modelworks.tkg.prompts import PromptConfig, check_split, export_jsonl

    cfg = PromptConfig(history=history, style=style, reverse=reverse, augment=not no_augment,
                       template_file=str(template) if template else None)
    for split in splits:  # every argument is checked before any file is written
        check_split(split)
    if limit < 0:
        raise UserError(f"--limit must be >= 0 (0 = all), got {limit}")
    check_not_run_dir(out, "the exported prompts")  # a folder: one <split>.jsonl per split
    cfg.template()  # a missing or malformed --template
    ds = _dataset(data, data_dir)
    for split in splits:
        n = export_jsonl(ds, split, out / f"{split}.jsonl", cfg, limit=limit)
        typer.echo(f"wrote {n} prompts to {out / f'{split}.jsonl'}")


@app.command("llm-eval")
def llm_eval(
    data: str = typer.Option(..., "--data", help="Dataset folder (or a name under <data root>/tkg/)."),
    model: str = typer.Option(..., "--model", help="Local Hugging Face causal-LM directory."),
    history: int = typer.Option(10, "--history", help="History length L."),
    beams: int = typer.Option(10, "--beams", help="Beam size (candidates ranked)."),
    limit: int = typer.Option(200, "--limit", help="Evaluate the first N queries of the split (0 = all)."),
    split: str = typer.Option("test", "--split"),
    style: str = typer.Option("text", "--style", help="text | text+index"),
    reverse: str = typer.Option("ordinary", "--reverse"),
    batch_size: int = typer.Option(16, "--batch-size"),
    device: str = typer.Option("auto", "--device"),
    template: Path = typer.Option(None, "--template", help="Prompt template file with {history} and {query} slots."),
    as_json: bool = typer.Option(False, "--json"),
    data_dir: str = typer.Option(None, "--data-dir"),
) -> None:
    """Rank candidates with a causal LM: beam search constrained to real entity names."""
    from modelworks.tkg.decoding import evaluate_llm
    from modelworks.tkg.prompts import PromptConfig

    cfg = PromptConfig(history=history, style=style, reverse=reverse,
                       template_file=str(template) if template else None)
    ds = _dataset(data, data_dir)
    res = evaluate_llm(ds, model, cfg, split=split, beams=beams, limit=limit, batch_size=batch_size, device=device)
    if as_json:
        typer.echo(json.dumps(res))
    else:
        _print_metrics(f"{model} beam={beams} on {ds.name} {split}", res)


@app.command()
def run(
    config: Path = typer.Argument(..., help="Recipe YAML, e.g. configs/tkg/icews14_cpu.yaml"),
    overrides: list[str] = typer.Argument(None, help="key=value overrides"),
    out: Path = typer.Option(None, "--out", help="Run folder (default runs/tkg-<UTC time>)."),
    data_dir: str = typer.Option(None, "--data-dir"),
) -> None:
    """prepare -> train -> predict -> evaluate; writes results.json and report.md."""
    from modelworks.config import load_config
    from modelworks.tkg.recipe import TKGRunConfig, run_recipe

    cfg = load_config(TKGRunConfig, config, overrides or [])
    run_dir = run_recipe(cfg, out=out, data_dir=data_dir)
    typer.echo(f"run folder: {run_dir}")
