"""`modelworks train`: CoLLiE training engine: optimizers, PEFT, 3D parallelism, monitors, resume."""

from __future__ import annotations

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="CoLLiE training engine: optimizers, PEFT, 3D parallelism, monitors, resume. [not implemented yet: issue #3]",
    no_args_is_help=False,
    invoke_without_command=True,
)


@app.callback()
def _not_yet() -> None:
    raise UserError("modelworks train is not implemented yet (issue #3)")
