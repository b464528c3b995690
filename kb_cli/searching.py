"""`kb search` and `kb eval`."""

from __future__ import annotations

from pathlib import Path

import click

from kb.factory import open_knowledge_base
from kb.models import SearchFilters
from kb.serialize import hit_to_dict
from kb.settings import Settings
from kb_cli.main import cli
from kb_cli.output import echo_json
from kb_cli.output import format_hit


@cli.command()
@click.argument("query")
@click.option("-k", default=5, show_default=True, help="How many passages.")
@click.option("--kind", "kinds", multiple=True, help="Only documents of this kind.")
@click.option("--tag", "tags", multiple=True, help="Only documents with this tag.")
@click.option("--doc", "documents", multiple=True, help="Only this document id.")
@click.option("--year-from", type=int)
@click.option("--year-to", type=int)
@click.option("--mode", type=click.Choice(["hybrid", "semantic", "keyword"]), default="hybrid")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def search(
    settings: Settings,
    query: str,
    k: int,
    kinds,
    tags,
    documents,
    year_from,
    year_to,
    mode: str,
    as_json: bool,
) -> None:
    """Search the evidence; each passage comes with its citation."""
    kb = open_knowledge_base(settings)
    filters = SearchFilters(tuple(kinds), tuple(tags), tuple(documents), year_from, year_to)
    hits = kb.search(query, k=k, filters=filters, mode=mode)
    if as_json:
        echo_json({"query": query, "results": [hit_to_dict(h) for h in hits]})
        return
    if not hits:
        click.echo("No passages match.")
    for number, hit in enumerate(hits, start=1):
        click.echo(format_hit(number, hit) + "\n")


@cli.command(name="eval")
@click.argument("queries", type=click.Path(path_type=Path))
@click.option("-k", default=10, show_default=True, help="Passages per query.")
@click.option("--misses", is_flag=True, help="List the queries not answered first.")
@click.pass_obj
def evaluate_queries(settings: Settings, queries: Path, k: int, misses: bool) -> None:
    """Recall@1/5/10 and MRR of hybrid, semantic and keyword search on a JSONL file."""
    from kb.evaluation import evaluate
    from kb.evaluation import format_table
    from kb.evaluation import load_queries

    loaded = load_queries(queries)
    scores = evaluate(open_knowledge_base(settings), loaded, k=k)
    click.echo(f"{len(loaded)} queries from {queries}, k={k}\n")
    click.echo(format_table(scores))
    if misses:
        for score in scores:
            click.echo(f"\n{score.mode} not first:")
            for miss in score.misses:
                click.echo(f"  {miss}")
