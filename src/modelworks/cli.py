"""The one ``modelworks`` command. Each capability adds its sub-app from its own ``cli.py``.

Errors a user can fix are printed as one line on stderr with exit code 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from modelworks.errors import UserError

app = typer.Typer(
    name="modelworks",
    help="Train, protect and evaluate models: CoLLiE, MEOW, Chain-of-History, HoneypotNet, ESC-Eval, MLLMGuard.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_state = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    _state["debug"] = debug


@app.command()
def quickstart(
    out: Path = typer.Option(None, "--out", help="Folder for the runs (default runs/quickstart-<UTC time>)."),
    only: list[str] = typer.Option(None, "--only", help="Run only these capabilities (repeatable)."),
) -> None:
    """Run every capability's smallest default on CPU and print one summary table."""
    from modelworks.quickstart import run_quickstart

    run_quickstart(out, only or None)


@app.command()
def serve(
    model: str = typer.Option("mock", "--model", help="'mock' or a local Hugging Face model directory."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    api_key: str = typer.Option(None, "--api-key", help="Require 'Authorization: Bearer KEY'."),
    model_id: str = typer.Option(None, "--model-id", help="Name reported by /v1/models (default: --model)."),
) -> None:
    """Serve a local model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions)."""
    from modelworks.chat.server import serve as run_server

    run_server(model, host=host, port=port, api_key=api_key, model_id=model_id)


@app.command()
def validate(
    config: Path = typer.Argument(..., help="A YAML config, e.g. configs/train/tiny.yaml."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides to check too."),
    kind: str = typer.Option(None, "--kind", help="Config kind when the folder name does not tell it."),
) -> None:
    """Load a config with its overrides and print it resolved, or say on one line what is wrong."""
    from modelworks.config import config_class, dump_yaml, load_config

    cfg = load_config(config_class(config, kind), config, overrides or [])
    typer.echo(dump_yaml(cfg), nl=False)


def _add_capabilities() -> None:
    from modelworks.esc.cli import app as esc_app
    from modelworks.guard.cli import app as guard_app
    from modelworks.honeypot.cli import app as honeypot_app
    from modelworks.tkg.cli import app as tkg_app
    from modelworks.train.cli import app as train_app
    from modelworks.unlearn.cli import app as unlearn_app

    app.add_typer(train_app, name="train")
    app.add_typer(unlearn_app, name="unlearn")
    app.add_typer(tkg_app, name="tkg")
    app.add_typer(honeypot_app, name="honeypot")
    app.add_typer(esc_app, name="esc")
    app.add_typer(guard_app, name="guard")


_add_capabilities()


def main() -> None:
    """Console-script entry point: one-line errors (and usage mistakes) unless --debug."""
    try:
        rc = app(standalone_mode=False)
    except UserError as exc:
        if _debug():
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - anything else is still one line without --debug
        kinds = {c.__name__ for c in type(exc).__mro__}  # typer ships its own copy of click's exceptions
        if "NoArgsIsHelpError" in kinds:  # a command group without a command: its help was printed
            sys.exit(2)
        if "UsageError" in kinds:  # a mistyped option or value: one line, not a usage box
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "modelworks"
            print(f"error: {where}: {exc.format_message()} (see --help)", file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(2)
        if "Abort" in kinds:  # Ctrl-C (click turns KeyboardInterrupt into Abort)
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        if _debug():
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: {type(exc).__name__}: {text} (rerun with --debug for the traceback)", file=sys.stderr)
        sys.exit(2)
    sys.exit(rc if isinstance(rc, int) else 0)


def _debug() -> bool:
    return bool(_state["debug"]) or "--debug" in sys.argv


if __name__ == "__main__":
    main()
