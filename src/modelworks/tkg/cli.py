"""`modelworks tkg`: temporal KG completion as event generation from history chains."""

from __future__ import annotations

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="Temporal KG completion as event generation from history chains. [not implemented yet: issue #5]",
    no_args_is_help=False,
    invoke_without_command=True,
)


@app.callback()
def _not_yet() -> None:
    raise UserError("modelworks tkg is not implemented yet (issue #5)")
