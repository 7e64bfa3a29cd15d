"""`modelworks esc`: ESC-Eval: role-play evaluation of emotional-support models, ESC-RANK."""

from __future__ import annotations

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="ESC-Eval: role-play evaluation of emotional-support models, ESC-RANK. [not implemented yet: issue #7]",
    no_args_is_help=False,
    invoke_without_command=True,
)


@app.callback()
def _not_yet() -> None:
    raise UserError("modelworks esc is not implemented yet (issue #7)")
