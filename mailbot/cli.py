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
        settings = load_settings(config_path)
        recall = None
        if settings.database.in_file:  # the conversations so far, read-only, as the service decides
            from mailbot.store.conversations import recall_for

            recall = recall_for(settings, given_only=True)
        engine = Triage.from_settings(settings, html=False, recall=recall)
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
    _print_pass(result, parts, dry_run, config_path)
    if result.error:
        logging.getLogger("mailbot").error(result.error)  # one line; a JSON object when no person is watching
        sys.exit(1)


def _print_pass(result, parts, dry_run: bool, config_path: Path | None = None) -> None:
    """What the pass did, a row a message: a table for a person, tab-separated lines for a program."""
    from rich.console import Console
    from rich.table import Table

    rows = result.report.rows
    title = f"{len(rows)} message(s){' (dry run)' if dry_run else ''}"
    columns = ("message", "subject", "outcome", "folder", "reply", "note", "why held")
    outbox = parts.settings.outbox.path if parts.settings.smtp is None else None
    cells = []
    for row in rows:
        reply = row.reply or ""
        if reply and outbox is not None and not dry_run:
            reply = parts.sender.path_for(f"Message-ID: {reply}".encode()).name
        why = ", ".join(row.reasons) if row.folder == "review" else ""
        cells.append((row.uid, row.subject[:60], row.outcome, row.folder, reply, row.note, why))
    console = Console(width=max(160, Console().width))
    if sys.stdout.isatty():
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for line in cells:
            table.add_row(*line)
        console.print(table)
    else:  # a program reading the output (or a log): one plain line each, quick for a large backlog
        sys.stdout.write("\n".join([title, "\t".join(columns), *("\t".join(" ".join(c.split()) for c in line) for line in cells)]) + "\n")
        sys.stdout.flush()
    if not dry_run:
        sent = result.sent
        console.print(f"database: {parts.settings.database.url}")
        console.print(f"replies: {parts.replies_go_to}" + (f" ({sent.sent} sent in this pass)" if sent else ""))
        if result.report.filed_late:
            console.print(f"filed {result.report.filed_late} message(s) decided by an earlier pass")
        held = [row for row in rows if row.folder == "review"]
        if held:
            from mailbot.review import sentence

            console.print(f"held for review: {len(held)} (why, in the support team's words:)")
            for code in sorted({code for row in held for code in row.reasons}):
                console.print(f"  {code}: {sentence(code)}")
            config = config_path or "mailbot.toml"
            web = parts.settings.web
            console.print(f"to review them on the desk: mailbot users add YOUR-NAME --config {config}, then "
                          f"mailbot web --config {config} and open http://{web.host}:{web.port}/", soft_wrap=True)


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


def _parts(config_path: Path):
    """The service's parts for a command that works on the database (desk, review, directory, worklist)."""
    from mailbot.service import logs
    from mailbot.service.wiring import build
    from mailbot.settings import load_settings

    try:
        settings = load_settings(config_path)
        logs.setup(settings.service.log_format, level=logging.WARNING)
        parts = build(settings)
        parts.store.upgrade()
        parts.sync_directory(follow_files=False)  # the service follows the config's files; these commands do not
    except ConfigError as error:
        _fail_config(error)
    return parts


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@main.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: [web] port, 8025).")
def web(config_path: Path, host: str | None, port: int | None) -> None:
    """Serve the review desk."""
    import uvicorn

    from mailbot.resources import shipped
    from mailbot.web.app import create_app

    from mailbot.service import logs
    from mailbot.service.outbox import BackgroundDrain, OutboxSender

    parts = _parts(config_path)
    settings = parts.settings
    logs.setup(settings.service.log_format)
    parts.store.upgrade()
    # What the desk decides is sent from here too (each reply claimed first: never twice, whoever else drains).
    outbox = OutboxSender(parts.store, parts.new_sender(), settings.mailbox.address, settings.service.send_attempts,
                          settings.service.retry_max_seconds, parts.me)
    drain = BackgroundDrain(outbox).start()
    host, port = host or settings.web.host, port or settings.web.port
    app = create_app(parts, settings.replies.templates or shipped("templates"), host=host, decided=drain.kick)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"mailbot web: the review desk is at http://{shown}:{port}/ ; replies go to {parts.replies_go_to}", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                    proxy_headers=True, forwarded_allow_ips=settings.web.trusted_proxies)
    finally:
        drain.stop()


@main.group()
def users() -> None:
    """Review-desk accounts."""


def _password(from_stdin: bool, prompt: str) -> str:
    """A password from standard input's first line, or asked for twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@users.command("add")
@config_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(config_path: Path, name: str, password_stdin: bool) -> None:
    """Create an account; the password comes from stdin (--password-stdin) or a prompt."""
    from mailbot.web.accounts import add_user

    parts = _parts(config_path)
    password = _password(password_stdin, "Password")
    try:
        add_user(parts.store, name, password, actor=_actor())
    except ValueError as bad:
        raise click.UsageError(str(bad))
    click.echo(f"account {name!r} created")


@users.command("list")
@config_option
def users_list(config_path: Path) -> None:
    """The review-desk accounts: name, created, last sign-in, browsers signed in now."""
    from mailbot.web.accounts import list_users

    parts = _parts(config_path)
    for account in list_users(parts.store):
        last = f"{account.last_login_at:%Y-%m-%d %H:%M %Z}".strip() if account.last_login_at else "never"
        click.echo(f"{account.name}\tcreated {account.created_at:%Y-%m-%d}\tlast sign-in {last}\tsigned in now: {account.sessions}")


@users.command("remove")
@config_option
@click.argument("name")
def users_remove(config_path: Path, name: str) -> None:
    """Delete an account; its browsers are signed out at once."""
    from mailbot.web.accounts import remove_user

    if not remove_user(_parts(config_path).store, name, actor=_actor()):
        raise click.UsageError(f"there is no account called {name!r}")
    click.echo(f"account {name!r} removed")


@users.command("reset-password")
@config_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def users_reset_password(config_path: Path, name: str, password_stdin: bool) -> None:
    """A new password for an account (its browsers are signed out, its failed sign-ins forgotten)."""
    from mailbot.web.accounts import reset_password

    parts = _parts(config_path)
    password = _password(password_stdin, "New password")
    try:
        reset_password(parts.store, name, password, actor=_actor())
    except ValueError as bad:
        raise click.UsageError(str(bad))
    click.echo(f"the password of {name!r} is reset; its browsers are signed out")


@main.group()
def review() -> None:
    """The review queue, for scripts: what the desk does, on the command line."""


@review.command("list")
@config_option
@click.option("--reason", default=None, help="Only messages held for this reason code.")
@click.option("--address", default=None, help="Only messages from or about this address.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
def review_list(config_path: Path, reason: str | None, address: str | None, as_json: bool) -> None:
    """Held messages, oldest first."""
    import json

    from mailbot.review import ReviewDesk

    parts = _parts(config_path)
    items = ReviewDesk(parts.store, parts.triage).queue(reason, address)
    if as_json:
        for item in items:
            click.echo(json.dumps({"id": item.message_id, "seen_at": item.seen_at.isoformat(), "sender": item.sender,
                                   "subject": item.subject, "organisation": item.organisation, "reasons": list(item.reasons),
                                   "requests": [dict(zip(("name", "email", "access"), r)) for r in item.requests]}, ensure_ascii=False))
        return
    for item in items:
        click.echo(f"{item.message_id:>6}  {item.seen_at:%Y-%m-%d %H:%M}  {item.sender or '?':<40}  {', '.join(item.reasons)}  | {item.subject}")


@review.command("show")
@config_option
@click.argument("message_id", type=int)
def review_show(config_path: Path, message_id: int) -> None:
    """One message: who sent it, why it is held, what it asks for, and its history."""
    from mailbot.review import NotFound, ReviewDesk, held_reasons, sentence

    parts = _parts(config_path)
    desk = ReviewDesk(parts.store, parts.triage)
    try:
        message, item, audit = desk.message(message_id)
    except NotFound:
        raise click.UsageError(f"no message {message_id}")
    email = desk.email(message)
    click.echo(f"message {message.id}: {message.subject!r}")
    click.echo(f"from:    {message.sender}")
    click.echo(f"outcome: {message.outcome}  folder: {message.folder}  review: {item.status if item else 'none'}")
    for code in (held_reasons(item.reasons, message.requests) if item else message.reasons):
        click.echo(f"reason:  {code}: {sentence(code)}")
    for n, request in enumerate(message.requests):
        click.echo(f"request {n}: {request.name or '?'} <{request.email or '?'}> {request.access or 'access unclear'}: {request.outcome}")
    click.echo("---")
    click.echo(email.body.new_text or "(no text)")
    click.echo("---")
    for entry in audit:
        click.echo(f"{entry.at:%Y-%m-%d %H:%M}  {entry.actor}  {entry.action}  {entry.detail}")


@review.command("decide")
@config_option
@click.argument("message_id", type=int)
@click.argument("action", type=click.Choice(["approve", "reject", "info", "close"]))
@click.option("--note", default="", help="A note for the record (not sent).")
def review_decide(config_path: Path, message_id: int, action: str, note: str) -> None:
    """Decide a held message: approve, reject, ask for information, or close without reply."""
    from mailbot.review import AlreadyDecided, NotFound, ReviewDesk

    parts = _parts(config_path)
    desk = ReviewDesk(parts.store, parts.triage, parts.settings.service.replies_per_sender_per_hour)
    try:
        result = desk.decide(message_id, action, _actor(), note)
    except AlreadyDecided:
        click.echo(f"mailbot: message {message_id} was decided already; nothing changed", err=True)
        sys.exit(1)
    except NotFound:
        raise click.UsageError(f"no message {message_id}")
    click.echo(f"message {message_id}: {result.action} -> {result.outcome}" + (f"; reply {result.reply_message_id} queued" if result.reply_message_id else ""))


@main.group()
def directory() -> None:
    """The directory of organisations and people."""


@directory.command("import")
@config_option
@click.option("--organisations", "organisations_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--people", "people_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--merge", is_flag=True, help="Keep the people edited on the desk since the last import; take the rest from the files.")
@click.option("--replace", "replace_edits", is_flag=True, help="Replace everything, the desk's edits since the last import included.")
def directory_import(config_path: Path, organisations_csv: Path, people_csv: Path, merge: bool, replace_edits: bool) -> None:
    """Import the directory from these CSV files (audited, with what changed listed).

    Refused when the directory was edited on the desk since its last import, unless --merge or --replace."""
    from mailbot.directory import load_directory
    from mailbot.store import directory as stored

    if merge and replace_edits:
        raise click.UsageError("--merge or --replace, not both")
    parts = _parts(config_path)
    try:
        imported = load_directory(organisations_csv, people_csv, parts.triage.policy.seniority_ranks)
    except ConfigError as error:
        _fail_config(error)
    try:
        summary = stored.import_directory(parts.store, imported, _actor(), f"{organisations_csv} and {people_csv}",
                                          merge=merge, replace_edits=replace_edits)
    except stored.ImportRefused as refused:
        click.echo(f"mailbot: not imported: {refused}", err=True)
        sys.exit(1)
    click.echo("imported: " + summary.line())


@directory.command("export")
@config_option
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def directory_export(config_path: Path, folder: Path) -> None:
    """Write the database's directory as organisations.csv and people.csv (for `mailbot triage`, or to import again)."""
    from mailbot.directory import as_csv_files
    from mailbot.store import directory as stored

    parts = _parts(config_path)
    organisations, people = as_csv_files(stored.load(parts.store))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "organisations.csv").write_text(organisations, encoding="utf-8", newline="")
    (folder / "people.csv").write_text(people, encoding="utf-8", newline="")
    click.echo(f"written {folder / 'organisations.csv'} and {folder / 'people.csv'}")


@main.group()
def worklist() -> None:
    """Approved requests whose logins a person still has to create."""


@worklist.command("export")
@config_option
def worklist_export(config_path: Path) -> None:
    """The open worklist as CSV on standard output."""
    from mailbot.review import worklist as work

    parts = _parts(config_path)
    labels = {key: level.label for key, level in parts.triage.policy.access.items()}
    sys.stdout.write(work.as_csv(work.open_items(parts.store), labels))


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
