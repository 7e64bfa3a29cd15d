"""`modelworks honeypot`: HoneypotNet — backdoor models stolen by extraction, and prove ownership."""

from __future__ import annotations

from pathlib import Path

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="HoneypotNet: backdoor models stolen by extraction (KnockoffNets) and prove ownership.",
    no_args_is_help=True,
)


@app.command()
def run(
    config: Path = typer.Argument(..., help="YAML config, e.g. configs/honeypot/mnist.yaml."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. honeypot.rounds=4."),
    out: Path = typer.Option(None, "--out", help="Run folder (default runs/honeypot-<UTC time>)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Benchmark data folder (default $MODELWORKS_DATA, else ../shared/data)."),
) -> None:
    """Train victim -> HoneypotNet -> KnockoffNets attacks -> verification; writes results.json and report.md."""
    from modelworks.config import load_config
    from modelworks.honeypot.config import HoneypotRunConfig
    from modelworks.honeypot.recipe import run_honeypot

    extra = list(overrides or [])
    if data_dir is not None:
        extra.append(f"data.data_dir={data_dir}")
    cfg = load_config(HoneypotRunConfig, config, extra)
    res = run_honeypot(cfg, out=out, config_path=str(config))
    keys = ["victim_acc", "honeypot_acc", "substitute_acc", "undefended_substitute_acc", "asr", "undefended_asr",
            "independent_asr", "verify_pvalue"]
    typer.echo("  ".join(f"{k}={res[k]:.4g}" for k in keys))


@app.command()
def verify(
    trigger: Path = typer.Option(..., "--trigger", help="trigger.pt from a honeypot run (verification.json beside it)."),
    suspect: Path = typer.Option(None, "--suspect", help="Suspect model: a torch.save-d nn.Module or a folder with model.pt."),
    url: str = typer.Option(None, "--url", help="Black-box mode: base URL of a /predict endpoint instead of --suspect."),
    data: str = typer.Option(None, "--data", help="Held-out labelled images (data reference, default: from the run)."),
    queries: int = typer.Option(None, "--queries", help="Trigger queries to send (default: from the run, 100)."),
    p0: float = typer.Option(None, "--p0", help="Null trigger rate (default: calibrated in the run)."),
    alpha: float = typer.Option(None, "--alpha", help="Significance level (default: from the run, 1e-3)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Benchmark data folder."),
) -> None:
    """Exit 0 if ownership is shown (binomial test p <= alpha), 1 if not."""
    from modelworks.honeypot.datasets import load_many
    from modelworks.honeypot.verify import load_calibration, verify_ownership
    from modelworks.honeypot.victims import check_linear_head, predict_probs

    if (suspect is None) == (url is None):
        raise UserError("give exactly one of --suspect MODEL or --url URL")
    if not trigger.is_file():
        raise UserError(f"--trigger {trigger}: file not found (trigger.pt of a honeypot run)")
    cal = load_calibration(trigger)
    data = [data] if data else cal.get("data")
    if not data:
        raise UserError(f"no --data given and no verification.json beside {trigger}")
    p0 = p0 if p0 is not None else cal.get("p0")
    if p0 is None:
        raise UserError(f"no --p0 given and no verification.json beside {trigger}")
    if queries is not None and queries < 1:
        raise UserError(f"--queries must be >= 1, got {queries}")
    if alpha is not None and not 0 < alpha < 1:
        raise UserError(f"--alpha (a significance level) must be in (0, 1), got {alpha}")
    if p0 is not None and not 0 < p0 < 1:
        raise UserError(f"--p0 must be in (0, 1), got {p0}")
    queries = queries or int(cal.get("queries", 100))
    alpha = alpha if alpha is not None else float(cal.get("alpha", 1e-3))
    if url is not None:
        from modelworks.honeypot.defences import HTTPBlackBox

        box = HTTPBlackBox(url)
        shape = tuple(box.info()["input_shape"])
        predict = box.query
    else:
        from modelworks.honeypot.victims import load_model, read_model_meta

        model = load_model(suspect)
        meta = (suspect if suspect.is_dir() else suspect.parent) / "model.json"
        shape = read_model_meta(meta)["input_shape"] if meta.is_file() else None
        predict = lambda x: predict_probs(model, x)  # noqa: E731
    from modelworks.honeypot.trigger import load_trigger

    trig = load_trigger(trigger, expect_shape=shape)
    if url is None:
        import torch

        try:
            with torch.no_grad():
                model(torch.zeros(2, *trig.shape))
        except RuntimeError:
            raise UserError(f"{trigger}: a trigger of shape {trig.shape} does not fit the suspect model {suspect}") from None
    held = load_many(list(data), trig.shape[-1], trig.shape[0], data_dir)
    if held.y is None:
        raise UserError(f"--data {data}: verification needs labelled images")
    if url is None:
        check_linear_head(model, held.x[:4])
    res = verify_ownership(predict, trig, held.x, held.y, float(p0), queries, alpha)
    typer.echo(res.line())
    raise typer.Exit(0 if res.shown else 1)


@app.command()
def serve(
    model: Path = typer.Option(..., "--model", help="Folder with model.pt and model.json (e.g. RUN/honeypot_model)."),
    port: int = typer.Option(8100, "--port", min=1, max=65535),
    host: str = typer.Option("127.0.0.1", "--host"),
    defence: str = typer.Option("none", "--defence", help="Output defence: none, top1, rounding, reverse_sigmoid, ..."),
) -> None:
    """Serve a classifier at POST /predict (probabilities) and GET /info."""
    from modelworks.honeypot.defences import DefenceConfig
    from modelworks.honeypot.serve import serve_model

    serve_model(str(model), host=host, port=port, defence=DefenceConfig(name=defence))
