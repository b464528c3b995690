"""`kb search` and `kb eval`."""

from __future__ import annotations

from pathlib import Path

import click

from kb.factory import open_knowledge_base
from kb.matching import MATCH_NOTICES
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
    found = kb.find(query, k=k, filters=filters, mode=mode)
    if as_json:
        echo_json(
            {
                "query": query,
                "match": found.match,
                "results": [hit_to_dict(h) for h in found.hits],
            }
        )
        return
    if not found.hits:
        click.echo("No passages match.")
        return
    if found.match in MATCH_NOTICES:
        heading, explanation = MATCH_NOTICES[found.match]
        click.echo(f"{heading}. {explanation}\n")
    for number, hit in enumerate(found.hits, start=1):
        click.echo(format_hit(number, hit) + "\n")


@cli.command(name="eval")
@click.argument("queries", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-k", default=10, show_default=True, help="Passages per query.")
@click.option("--misses", is_flag=True, help="List the queries not answered first.")
@click.pass_obj
def evaluate_queries(settings: Settings, queries: tuple[Path, ...], k: int, misses: bool) -> None:
    """Recall@1/5/10 and MRR of hybrid, semantic and keyword search, and the "no close match"
    flag rates, for each JSONL file of queries."""
    from kb.evaluation import evaluate
    from kb.evaluation import flag_rates
    from kb.evaluation import format_flags
    from kb.evaluation import format_table
    from kb.evaluation import load_queries

    kb = open_knowledge_base(settings)
    loaded = {path: load_queries(path) for path in queries}  # every file readable before any run
    for number, (path, rows) in enumerate(loaded.items()):
        answerable = sum(1 for q in rows if not q.none)
        scores = evaluate(kb, rows, k=k)
        rates = flag_rates(kb, rows)
        if number:
            click.echo("")
        click.echo(f"{path}: {answerable} answerable, {len(rows) - answerable} off-topic, k={k}\n")
        click.echo(format_table(scores))
        click.echo("\n" + format_flags(rates))
        if misses:
            for score in scores:
                click.echo(f"\n{score.mode} not first:")
                for miss in score.misses:
                    click.echo(f"  {miss}")
            if rates.wrong:
                click.echo("\nflagged wrongly:")
                for wrong in rates.wrong:
                    click.echo(f"  {wrong}")
