"""The `kb` command: the composition root that wires kb, ingest and web together.

Heavy imports (torch via the embedder, flask) happen inside the commands that need them, so
`kb list` and `kb check` start quickly.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from kb.errors import KBError
from kb.settings import Settings


class KBGroup(click.Group):
    """Turns our own errors into one sentence and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KBError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=KBGroup)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="KB_DATA_DIR",
    default="data",
    show_default=True,
    help="Where the database and index live.",
)
@click.option(
    "--corpus-dir",
    type=click.Path(path_type=Path),
    envvar="KB_CORPUS_DIR",
    default="corpus",
    show_default=True,
    help="The default corpus (catalog.toml, myths.toml).",
)
@click.option(
    "--embedder",
    type=click.Choice(["minilm", "hashing"]),
    envvar="KB_EMBEDDER",
    default="minilm",
    show_default=True,
    help="hashing is a fast stand-in for trials.",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path, corpus_dir: Path, embedder: str) -> None:
    """Find, quote and share the evidence on shared back office services."""
    # The options win over the environment; every other setting comes from it.
    ctx.obj = replace(
        Settings.from_env(), data_dir=data_dir, corpus_dir=corpus_dir, embedder=embedder
    )


def main() -> None:
    cli(prog_name="kb")


# Commands live in their own modules; importing them registers them on `cli`.
from kb_cli import documents  # noqa: E402,F401,I001
from kb_cli import searching  # noqa: E402,F401,I001
from kb_cli import myths  # noqa: E402,F401,I001
from kb_cli import figures  # noqa: E402,F401,I001
from kb_cli import serving  # noqa: E402,F401,I001
from kb_cli import users  # noqa: E402,F401,I001
from kb_cli import worker  # noqa: E402,F401,I001
