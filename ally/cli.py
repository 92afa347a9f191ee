"""CLI commands: flask --app app ally ..."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .config import SettingsError
from .jobs import JOBS, run_job
from .logs import SCHEDULER, configure_logs
from .models import utcnow
from .services import reteach
from .services.demo import DEMO_PASSWORD, seed_demo

ally_cli = AppGroup("ally", help="Ally's own commands.")


@ally_cli.command("seed-demo")
def seed_demo_command() -> None:
    """Create two demo students already paired (idempotent)."""
    for user in seed_demo(utcnow()):
        click.echo(f"{user.display_name}: {user.email} / {DEMO_PASSWORD}")


def _parse_now(value: str | None) -> datetime:
    if not value:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 instant: {value}") from exc
    if parsed.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-11-23T18:00:00+00:00")
    return parsed.astimezone(UTC)


@ally_cli.command("run-job")
@click.argument("name", type=click.Choice(sorted(JOBS)))
@click.option("--now", "now_text", help="ISO 8601 instant to run as (default: now)")
def run_job_command(name: str, now_text: str | None) -> None:
    """Run one scheduled job once, as the scheduler would."""
    result = run_job(name, _parse_now(now_text))
    click.echo(f"{name}: {result}")


@ally_cli.command("rebuild-cards")
@click.option("--user", "user_id", type=int, help="only this student's cards")
def rebuild_cards_command(user_id: int | None) -> None:
    """Recompute the re-teach cards (FSRS) from the ratings alone."""
    written = reteach.rebuild(user_id, utcnow())
    click.echo(f"rebuilt {written} cards")


@ally_cli.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler alone (a standby waits while another holds the lock)."""
    from .scheduler import run_scheduler_process
    from .services.health import require_services

    app = current_app._get_current_object()
    try:
        # A database or Redis that does not answer at the start is a setting
        # to fix, said in one line (later outages are waited out).
        require_services(app)
    except SettingsError as error:
        raise SystemExit(f"ally: {error}") from None
    configure_logs(SCHEDULER)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo("scheduler: starting", err=True)
    run_scheduler_process(app, stop)
    click.echo("scheduler: stopped", err=True)


def register_cli(app: Flask) -> None:
    """Attach the command group."""
    app.cli.add_command(ally_cli)
