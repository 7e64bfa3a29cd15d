"""`modelworks guard`: MLLMGuard: multimodal safety evaluation, GuardRank, ASD/PAR."""

from __future__ import annotations

import typer

from modelworks.errors import UserError

app = typer.Typer(
    help="MLLMGuard: multimodal safety evaluation, GuardRank, ASD/PAR. [not implemented yet: issue #8]",
    no_args_is_help=False,
    invoke_without_command=True,
)


@app.callback()
def _not_yet() -> None:
    raise UserError("modelworks guard is not implemented yet (issue #8)")
