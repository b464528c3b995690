"""`kb myths`: the myths the founding report challenges, and the evidence that answers each."""

from __future__ import annotations

import textwrap

import click

from kb.myths import Evidence
from kb.myths import Myth
from kb.myths import evidence_to_dict
from kb.myths import load_myths
from kb.myths import myth_to_dict
from kb.myths import other_side_to_dict
from kb.settings import Settings
from kb_cli.main import cli
from kb_cli.output import cited_lines
from kb_cli.output import echo_json

WIDTH = 96


@cli.command(name="myths")
@click.argument("myth_id", required=False)
@click.option("-k", default=5, show_default=True, help="Passages found by search, after pinned.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def myths(settings: Settings, myth_id: str | None, k: int, as_json: bool) -> None:
    """List the myths, or show one (MYTH_ID) with its answer and cited evidence."""
    loaded = load_myths(settings.myths_path)
    if myth_id is None:
        _list(loaded, as_json)
        return
    from kb.factory import open_knowledge_base
    from kb.myths import MythBook

    book = MythBook(open_knowledge_base(settings), loaded)
    myth = book.get(myth_id)
    evidence = book.evidence(myth, k=k)
    other_side = book.other_side(myth)
    if as_json:
        echo_json(
            {
                **myth_to_dict(myth),
                "evidence": [evidence_to_dict(e) for e in evidence],
                "other_side": [other_side_to_dict(e) for e in other_side],
            }
        )
        return
    click.echo(_format_myth(myth, evidence, other_side))


def _list(loaded: list[Myth], as_json: bool) -> None:
    if as_json:
        echo_json(
            [
                {
                    **myth_to_dict(m),
                    "pinned_count": len(m.evidence),
                    "other_side_count": len(m.other_side),
                }
                for m in loaded
            ]
        )
        return
    for myth in loaded:
        click.echo(f"{myth.id:<24} {len(myth.evidence)} pinned  {myth.claim}")


def _format_myth(myth: Myth, evidence: list[Evidence], other_side: list[Evidence]) -> str:
    lines = [
        myth.id,
        _wrap(f"Myth: {myth.claim}", indent=""),
        "",
        _wrap(f"Answer: {myth.answer}", indent=""),
        "",
        "Evidence:" if evidence else "No evidence found: run `kb ingest` first.",
    ]
    for number, item in enumerate(evidence, start=1):
        text = f"“{item.quote}”" if item.pinned else " ".join(item.passage.text.split())
        label = "[pinned] " if item.pinned else ""
        body = _wrap(f"{number}. {label}{text}", indent="   ")
        lines.append(f"{body}\n{cited_lines(item.citation, item.url)}\n")
    if other_side:
        lines.append("What the other side will say:")
    for number, item in enumerate(other_side, start=1):
        note = f" ({item.note})" if item.note else ""
        body = _wrap(f"{number}. “{item.quote}”{note}", indent="   ")
        lines.append(f"{body}\n{cited_lines(item.citation, item.url)}\n")
    return "\n".join(lines).rstrip()


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, width=WIDTH, subsequent_indent=indent or "  ")
