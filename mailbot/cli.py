"""The `mailbot` command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from mailbot.errors import ConfigError

PROGRESS_THRESHOLD = 30


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # mail-parser reports every part it leaves alone; that is not news.
    logging.getLogger("mailparser").setLevel(logging.ERROR)


def _fail_config(error: ConfigError) -> None:
    click.echo(f"mailbot: config error: {error}", err=True)
    sys.exit(2)


def _message_files(arguments: tuple[str, ...]) -> list[str]:
    """The files to read, named as given: a folder means the *.eml files directly inside it, in name order."""
    files: list[str] = []
    for argument in arguments:
        if os.path.isdir(argument):
            names = sorted(n for n in os.listdir(argument) if n.lower().endswith(".eml"))
            files.extend(os.path.join(argument, n) for n in names if os.path.isfile(os.path.join(argument, n)))
        else:
            files.append(argument)
    return files


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILBOT_CONFIG",
    required=True,
    help="mailbot.toml (default: $MAILBOT_CONFIG).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more on stderr.")
@click.version_option(package_name="mailbot")
def main(verbose: bool) -> None:
    """mailbot answers the NHSP agencies mailbox by the rules of NHSP's quick guide."""
    _setup_logging(verbose)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, one object per message.")
@click.option("--jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes to use; 0: every core when there are 200 files or more, else one.")
@click.argument("paths", nargs=-1, required=True)
def triage(config_path: Path, as_json: bool, jobs: int, paths: tuple[str, ...]) -> None:
    """Say what mailbot would decide and reply for each .eml file (a folder means its *.eml files)."""
    from mailbot.batch import triage_files, workers_for
    from mailbot.settings import load_settings
    from mailbot.triage import Triage

    try:
        engine = Triage.from_settings(load_settings(config_path), html=False)
    except ConfigError as error:
        _fail_config(error)
    files = _message_files(paths)
    unreadable = 0
    rows = []
    out = sys.stdout.buffer
    with _progress(len(files)) as advance:
        for outcome in triage_files(engine, files, as_json, workers_for(jobs, len(files))):
            if outcome.error is not None:
                click.echo(f"mailbot: cannot read {outcome.file}: {outcome.error}", err=True)
                unreadable += 1
            elif as_json:
                out.write(outcome.line)
            else:
                rows.append(outcome.row)
            advance()
    out.flush()
    if not as_json:
        _print_table(rows)
    sys.exit(1 if unreadable else 0)


@main.command()
@config_option
@click.option("--once", is_flag=True, help="One full pass: every waiting message, every pending reply; then exit.")
@click.option("--dry-run", is_flag=True, help="Decide and report, but send, move and record nothing.")
def run(config_path: Path, once: bool, dry_run: bool) -> None:
    """Run the mailbox service (or one pass of it with --once)."""
    from mailbot.service import logs
    from mailbot.service.runner import Service
    from mailbot.service.wiring import build
    from mailbot.settings import load_settings

    try:
        settings = load_settings(config_path)
        logs.setup(settings.service.log_format)
        parts = build(settings)
    except ConfigError as error:
        _fail_config(error)
    if dry_run and not once:
        raise click.UsageError("--dry-run goes with --once")
    service = Service(parts, dry_run=dry_run)
    if not once:
        service.forever()
        return
    result = service.once()
    _print_pass(result, parts, dry_run)
    if result.error:
        logging.getLogger("mailbot").error(result.error)  # one line; a JSON object when no person is watching
        sys.exit(1)


def _print_pass(result, parts, dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = result.report.rows
    table = Table(title=f"{len(rows)} message(s){' (dry run)' if dry_run else ''}")
    for column in ("message", "subject", "outcome", "folder", "reply", "note"):
        table.add_column(column, overflow="fold")
    outbox = parts.settings.outbox.path if parts.settings.smtp is None else None
    for row in rows:
        reply = row.reply or ""
        if reply and outbox is not None and not dry_run:
            reply = parts.sender.path_for(f"Message-ID: {reply}".encode()).name
        table.add_row(row.uid, row.subject[:60], row.outcome, row.folder, reply, row.note)
    console = Console(width=max(160, Console().width))
    console.print(table)
    if not dry_run:
        sent = result.sent
        console.print(f"database: {parts.settings.database.url}")
        console.print(f"replies: {parts.replies_go_to}" + (f" ({sent.sent} sent in this pass)" if sent else ""))
        if result.report.filed_late:
            console.print(f"filed {result.report.filed_late} message(s) decided by an earlier pass")


@main.command("check-config")
@config_option
def check_config(config_path: Path) -> None:
    """Check the file, then the database, the mailbox (log in, folders) and SMTP; a line per check."""
    from mailbot.service.checks import run_checks
    from mailbot.settings import load_settings

    try:
        settings = load_settings(config_path)
    except ConfigError as error:
        _fail_config(error)
    for name, passed, detail in run_checks(settings, str(config_path)):
        click.echo(f"{'ok  ' if passed else 'FAIL'}  {name:<9} {detail}")
        if not passed:
            sys.exit(1)


@main.group()
def db() -> None:
    """The database."""


@db.command()
@config_option
def upgrade(config_path: Path) -> None:
    """Bring the database schema up to date (mailbot run does this at every start too)."""
    from mailbot.settings import load_settings
    from mailbot.store import Store

    try:
        settings = load_settings(config_path)
    except ConfigError as error:
        _fail_config(error)
    Store(settings.database.url).upgrade()
    click.echo(f"database schema up to date: {settings.database.url.split('@')[-1]}")


class _progress:
    """A progress bar on stderr, only when a person is watching a long run."""

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def __enter__(self):
        if self.total > PROGRESS_THRESHOLD and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            task = self.bar.add_task("triage", total=self.total)
            return lambda: self.bar.advance(task)
        return lambda: None

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.stop()
        return False


def _print_table(rows: list[tuple[str, str, str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} message(s)", show_lines=False)
    for column in ("file", "outcome", "reasons", "requests"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=max(160, Console().width)).print(table)
