"""`modelworks honeypot`: HoneypotNet: backdoor extraction attacks and verify ownership."""

from __future__ import annotations

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="HoneypotNet: backdoor extraction attacks and verify ownership. [not implemented yet: issue #6]",
    no_args_is_help=False,
    invoke_without_command=True,
)


@app.callback()
def _not_yet() -> None:
    raise UserError("modelworks honeypot is not implemented yet (issue #6)")
