"""The `kb` command: the composition root that wires kb, ingest and web together.

Heavy imports (torch via the embedder, flask) happen inside the commands that need them, so
`kb list` and `kb check` start quickly.
"""

from __future__ import annotations

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
    help="Where the database and index live.  [default: data; env KB_DATA_DIR]",
)
@click.option(
    "--corpus-dir",
    type=click.Path(path_type=Path),
    help="The default corpus (catalog.toml, myths.toml).  [default: corpus; env KB_CORPUS_DIR]",
)
@click.option(
    "--embedder",
    type=click.Choice(["minilm", "hashing"]),
    help="hashing is a fast stand-in for trials.  [default: minilm; env KB_EMBEDDER]",
)
@click.option(
    "--database-url",
    help="A PostgreSQL address (postgresql://user:password@host:port/dbname) for a store "
    "shared by servers on several machines; without it, the SQLite file in --data-dir.  "
    "[env KB_DATABASE_URL]",
)
@click.pass_context
def cli(
    ctx: click.Context,
    data_dir: Path | None,
    corpus_dir: Path | None,
    embedder: str | None,
    database_url: str | None,
) -> None:
    """Find, quote and share the evidence on shared back office services."""
    # Defaults, then the KB_* environment, then these flags: built in one place (kb.settings).
    ctx.obj = Settings.load(
        data_dir=data_dir, corpus_dir=corpus_dir, embedder=embedder, database_url=database_url
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
