"""`kb worker`: takes queued uploads in, so that web servers need not (KB_UPLOADS=queue)."""

from __future__ import annotations

import signal
import threading

import click

from kb.settings import Settings
from kb_cli.main import cli


def _describe(job) -> str:
    if job.status == "failed":
        return f"failed: {job.file_name}: {job.message}"
    return f"{job.outcome}: {job.document_id} ({job.file_name}, {job.passages} passages)"


@cli.command()
@click.option(
    "--once", is_flag=True, help="Take in the jobs waiting now, then stop (scripts, tests)."
)
@click.option(
    "--poll",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between looks at the queue while it is empty.",
)
@click.pass_obj
def worker(settings: Settings, once: bool, poll: float) -> None:
    """Take queued uploads in, one at a time, until stopped (Ctrl-C or SIGTERM finish the job
    in hand first). Run as many as you like, on any machine that reaches the database."""
    from ingest.jobrunner import JobRunner
    from ingest.ocr import OcrSettings
    from ingest.pipeline import Ingestor
    from ingest.service import DocumentService
    from kb.factory import make_model_embedder
    from kb.factory import open_originals
    from kb.factory import open_store
    from kb.jobs import Jobs

    store = open_store(settings, create=True)
    originals = open_originals(settings, store)
    ingestor = Ingestor(
        store,
        make_model_embedder(settings, ingest=True),
        settings.files_dir,
        max_bytes=settings.max_upload_bytes,
        ocr=OcrSettings.from_settings(settings),
        originals=originals,
        late_interaction_up_to=settings.late_interaction_up_to,
    )
    runner = JobRunner(
        DocumentService(store, ingestor=ingestor),
        Jobs(store),
        originals,
        settings.data_dir / "uploads",
        lease_seconds=settings.job_lease_seconds,
    )
    report = lambda job: click.echo(_describe(job))  # noqa: E731
    click.echo(f"Worker {runner.name} taking upload jobs from {store.describe()}.")
    if once:
        while (job := runner.run_next()) is not None:
            report(job)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        runner.run(stop, poll, on_job=report)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
