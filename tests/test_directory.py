"""One directory, never silently lost or stale (the service contract's "The directory"): the database is the
source of truth once imported; an import over desk edits is refused or merges, listing what changed; the
export gives it back as CSV a spreadsheet will not run; every worker decides with it as it is."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import DATA
from mailbot.csv_cells import read_cell, safe_cell
from mailbot.directory import as_csv_files, load_directory, parse_directory
from mailbot.review.worklist import WorkItem, as_csv
from mailbot.service.runner import Service
from mailbot.service.wiring import build
from mailbot.settings import load_settings
from mailbot.store import Message, Store
from mailbot.store import directory as stored
from mailbot.store.models import AuditEntry
from servers import mailbot, write_config
from test_service import request_message

RANKS = ("staff", "manager", "senior_manager", "director")
MARIA = "maria.santos@harrowgatenursing.co.uk"


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mailbot.db'}")
    store.upgrade()
    yield store
    store.close()


def files(folder: Path, extra_person: str = "") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "organisations.csv", folder / "organisations.csv")
    (folder / "people.csv").write_text((DATA / "people.csv").read_text(encoding="utf-8") + extra_person, encoding="utf-8")
    return folder / "organisations.csv", folder / "people.csv"


def directory_of(folder: Path, extra_person: str = ""):
    return load_directory(*files(folder, extra_person), RANKS)


def test_files_changed_without_desk_edits_are_imported_but_over_desk_edits_refused(store, tmp_path):
    assert stored.follow_files(store, directory_of(tmp_path / "v1"), "v1") == "imported"
    assert stored.follow_files(store, directory_of(tmp_path / "v1"), "v1") is None  # the same files: nothing to do
    newcomer = "ann.other@harrowgatenursing.co.uk,Ann Other,Harrowgate Nursing Ltd,Office Manager,manager\n"
    assert stored.follow_files(store, directory_of(tmp_path / "v2", newcomer), "v2") == "imported"
    assert stored.load(store).person("ann.other@harrowgatenursing.co.uk") is not None

    stored.edit_person(store, MARIA, "rita", seniority="senior_manager")  # on the desk
    later = "bob.other@harrowgatenursing.co.uk,Bob Other,Harrowgate Nursing Ltd,Office Manager,manager\n"
    said = stored.follow_files(store, directory_of(tmp_path / "v3", newcomer + later), "v3")
    assert said is not None and "edited on the desk" in said
    now = stored.load(store)
    assert now.person(MARIA).seniority == "senior_manager", "the desk's edit was lost"
    assert now.person("bob.other@harrowgatenursing.co.uk") is None
    assert stored.follow_files(store, directory_of(tmp_path / "v3", newcomer + later), "v3") is not None  # still refused
    with store.session() as session:  # said once per version of the files, not at every poll
        assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "directory_import_refused")).all()) == 1


def test_an_import_over_desk_edits_is_refused_merged_or_replaced_as_asked(store, tmp_path):
    stored.import_directory(store, directory_of(tmp_path / "v1"), "cli:ops", "first")
    stored.edit_person(store, MARIA, "rita", title="Head of Branch", seniority="senior_manager")
    changed = (DATA / "people.csv").read_text(encoding="utf-8").replace("Aled Morgan,Bramblewick Staffing Ltd,Office Manager,manager",
                                                                         "Aled Morgan,Bramblewick Staffing Ltd,Area Manager,senior_manager")
    folder = tmp_path / "v2"
    files(folder)
    (folder / "people.csv").write_text(changed, encoding="utf-8")  # Aled promoted in the files; Maria as she was
    incoming = load_directory(folder / "organisations.csv", folder / "people.csv", RANKS)

    with pytest.raises(stored.ImportRefused):
        stored.import_directory(store, incoming, "cli:ops", "second")
    assert stored.load(store).person(MARIA).seniority == "senior_manager"  # nothing changed

    summary = stored.import_directory(store, incoming, "cli:ops", "second", merge=True)
    assert summary.kept == [MARIA] and summary.changed == ["aled.morgan@bramblewick.co.uk"]
    now = stored.load(store)
    assert (now.person(MARIA).title, now.person(MARIA).seniority) == ("Head of Branch", "senior_manager")
    assert now.person("aled.morgan@bramblewick.co.uk").seniority == "senior_manager"
    assert not stored.edited_since_import(store)

    stored.edit_person(store, MARIA, "rita", seniority="staff")
    stored.import_directory(store, incoming, "cli:ops", "third", replace_edits=True)
    assert stored.load(store).person(MARIA).seniority == "manager"


def test_the_cli_refuses_an_import_over_desk_edits_in_one_line_and_exports_safe_csv(tmp_path, sqlite_url):
    config, env = write_config(tmp_path / "config", sqlite_url, maildir=tmp_path / "mail")
    store = Store(sqlite_url)
    store.upgrade()
    stored.import_directory(store, load_directory(tmp_path / "config" / "organisations.csv", tmp_path / "config" / "people.csv", RANKS),
                            "mailbot", "config files")
    stored.edit_person(store, MARIA, "rita", name="=HYPERLINK(\"http://evil.example\")", title="+Manager")
    store.close()
    orgs, people = files(tmp_path / "new")
    refused = mailbot("directory", "import", "--config", config, "--organisations", orgs, "--people", people, env=env)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "edited on the desk" in refused.stderr

    exported = mailbot("directory", "export", "--config", config, tmp_path / "out", env=env)
    assert exported.returncode == 0, exported.stderr
    text = (tmp_path / "out" / "people.csv").read_text(encoding="utf-8")
    for row in csv.reader(io.StringIO(text)):
        assert all(not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
    assert "'=HYPERLINK" in text and "'+Manager" in text
    # read back as it was written: the apostrophe is mailbot's own, and goes again
    again = parse_directory((tmp_path / "out" / "organisations.csv").read_bytes(), text.encode(), RANKS)
    assert again.person(MARIA).name == '=HYPERLINK("http://evil.example")' and again.person(MARIA).title == "+Manager"


@pytest.mark.parametrize("value", ["=1+1", "+44 7700", "-2", "@SUM(A1)", "\tx", "\rx", "  =cmd|' /C calc'!A0"])
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_apostrophe(value):
    assert safe_cell(value).startswith("'") and read_cell(safe_cell(value)) == value
    assert safe_cell("Jane Doe") == "Jane Doe" and read_cell("'quoted") == "'quoted"


def test_the_worklist_csv_never_carries_a_cell_a_spreadsheet_would_run():
    item = WorkItem(1, 1, '=HYPERLINK("http://evil.example","x")', "@evil@x.co", "+Org", "-agency_user", "=cmd|' /C calc'!A0",
                    None, "\tme", None)
    rows = list(csv.reader(io.StringIO(as_csv([item]))))
    for cell in rows[1]:
        assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_a_desk_edit_reaches_every_worker_of_a_big_batch(tmp_path, sqlite_url):
    """The edit is synced in the desk's path first (as `[web] enabled` does); the service's next batch, big enough
    for the worker processes, must still decide with it."""
    maildir = tmp_path / "mail"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    config, _ = write_config(tmp_path / "config", sqlite_url, maildir=maildir, outbox=tmp_path / "outbox",
                             service={"replies_per_sender_per_hour": 1000, "batch_size": 20, "triage_workers": 2})
    parts = build(load_settings(config))
    service = Service(parts)
    parts.store.upgrade()

    def deliver(tag: str, count: int) -> None:
        for n in range(count):
            (maildir / "new" / f"{tag}{n}.eml").write_bytes(request_message(f"{tag}{n}"))

    def outcomes(tag: str) -> set[str]:
        with parts.store.session() as session:
            return {m.outcome for m in session.scalars(select(Message).where(Message.message_id.like(f"<{tag}%")))}

    try:
        deliver("before", 12)
        service.poll()
        assert outcomes("before") == {"approved"}
        stored.edit_person(parts.store, MARIA, "rita", seniority="staff")  # Maria can no longer endorse Agency User
        parts.sync_directory()  # the desk's own sync, before the service looks
        deliver("after", 12)
        service.poll()
        assert outcomes("after") == {"rejected"}, "a worker decided with the directory as it was"
    finally:
        service.inbox.pool.close()
        parts.store.close()


def test_the_directory_as_csv_files_reads_back_the_same(tmp_path):
    directory = directory_of(tmp_path / "v1")
    organisations, people = as_csv_files(directory)
    again = parse_directory(organisations.encode(), people.encode(), RANKS)
    assert dict(again.people) == dict(directory.people)
    assert {d: o.name for d, o in again.organisations.items()} == {d: o.name for d, o in directory.organisations.items()}
