"""Printing results for people and for machines."""

from __future__ import annotations

import json
import textwrap

import click

from kb.models import Citation
from kb.models import Hit


def echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def format_hit(number: int, hit: Hit) -> str:
    """A hit for a terminal: the passage, wrapped, with its citation and link under it."""
    body = textwrap.fill(
        " ".join(hit.passage.text.split()),
        width=96,
        initial_indent="   ",
        subsequent_indent="   ",
    )
    return f"{number}.{body[2:]}\n{cited_lines(hit.citation, hit.url)}"


def cited_lines(citation: Citation, url: str) -> str:
    """Under a passage: its citation, the addresses of the originals it cites (or of the page
    we read, when the entry's note says we read it through another: "summarised by CAAF"),
    its link."""
    originals = "".join(
        f"\n     {'page we read' if source.note else 'original'}: {source.url}"
        for source in citation.sources
    )
    return f"   — {citation.short}{originals}\n     {url}"
