"""`kb figures`: the figure book, each value with every source that states it."""

from __future__ import annotations

import textwrap

import click

from kb.figures.book import BookFigure
from kb.figures.book import load_figures
from kb.figures.serialize import figure_summary
from kb.figures.serialize import figure_to_dict
from kb.settings import Settings
from kb_cli.main import cli
from kb_cli.output import echo_json

WIDTH = 96


@cli.command(name="figures")
@click.argument("figure_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def figures(settings: Settings, figure_id: str | None, as_json: bool) -> None:
    """List the figures, or show one (FIGURE_ID) with every source's value, cited."""
    from kb.errors import NotFound
    from kb.factory import open_store
    from kb.figures.matching import figure_evidence

    book = load_figures(settings.figures_path)
    if figure_id is None:
        _list(book, as_json)
        return
    figure = next((f for f in book if f.id == figure_id), None)
    if figure is None:
        raise NotFound(f"There is no figure with id {figure_id!r}; `kb figures` lists them.")
    evidence = figure_evidence(open_store(settings), figure, book)
    if as_json:
        echo_json(figure_to_dict(evidence))
        return
    lines = [figure.id, _wrap(figure.measures), ""]
    if figure.differs:
        lines += [_wrap("The sources differ: " + figure.note), ""]
    sections = (
        ("Sources:", evidence.pinned),
        ("Also stated in:", evidence.also),
        ("Possible disagreements (to confirm):", evidence.differs),
    )
    for heading, statements in sections:
        if not statements:
            continue
        lines.append(heading)
        for s in statements:
            who = f" ({s.said_by})" if s.said_by else ""
            lines.append(_wrap(f"  {s.value}{who}: “{s.quote}”", indent="    "))
            if s.note:
                lines.append(_wrap(f"    {s.note}", indent="    "))
            lines.append(f"    — {s.citation.short}\n      {s.url}")
        lines.append("")
    click.echo("\n".join(lines).rstrip())


def _list(book: list[BookFigure], as_json: bool) -> None:
    if as_json:
        echo_json([figure_summary(f) for f in book])
        return
    for figure in book:
        values = " / ".join(v.label for v in figure.values)
        mark = "differs" if figure.differs else ""
        click.echo(f"{figure.id:<40} {values:<28} {mark:<8} {figure.measures}")


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=WIDTH, subsequent_indent=indent)
