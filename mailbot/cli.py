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
