"""`modelworks unlearn`: MEOW unlearning with MEMO-selected inverted facts; TOFU protocol and baselines."""

from __future__ import annotations

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="MEOW unlearning with MEMO-selected inverted facts; TOFU protocol and baselines. [not implemented yet: issue #4]",
    no_args_is_help=False,
    invoke_without_command=True,
)


@app.callback()
def _not_yet() -> None:
    raise UserError("modelworks unlearn is not implemented yet (issue #4)")
