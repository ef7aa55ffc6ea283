"""The directory of agencies and their people, read from the two CSV files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from mailbot.csv_cells import read_cell, write_rows
from mailbot.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Organisation:
    name: str
    domains: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    name: str
    organisation: str
    title: str
    seniority: str


@dataclass(frozen=True)
class Directory:
    """Organisations by domain and people by address; every key is lower case."""

    organisations: Mapping[str, Organisation]
    people: Mapping[str, Person]

    @classmethod
    def of(cls, organisations: dict[str, Organisation], people: dict[str, Person]) -> Directory:
        """A read-only directory of these lookups (keys lower case)."""
        return cls(MappingProxyType(dict(organisations)), MappingProxyType(dict(people)))

    def __reduce__(self):  # picklable, for triage worker processes
        return (Directory.of, (dict(self.organisations), dict(self.people)))

    def organisation_for(self, email: str | None) -> Organisation | None:
        if not email or "@" not in email:
            return None
        return self.organisations.get(email.rsplit("@", 1)[1].strip().lower())

    def person(self, email: str | None) -> Person | None:
        return self.people.get(email.strip().lower()) if email else None

    def organisation_named(self, name: str) -> Organisation | None:
        for organisation in self.organisations.values():
            if organisation.name.casefold() == name.casefold():
                return organisation
        return None


def _rows(source: Path | bytes, name: str, columns: tuple[str, ...]):
    try:
        data = source.read_bytes() if isinstance(source, Path) else source
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = tuple((field or "").strip().lower() for field in reader.fieldnames or ())
        missing = [c for c in columns if c not in header]
        if missing:
            raise ConfigError(f"{name}: missing column(s) {', '.join(missing)} (expected {','.join(columns)})")
        reader.fieldnames = header
        for row in reader:
            values = {k: read_cell((row.get(k) or "").strip()) for k in columns}
            if any(values.values()):
                yield reader.line_num, values
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read directory file: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{name}: not a readable UTF-8 CSV file: {exc}") from None


def load_directory(organisations_csv: Path, people_csv: Path, seniority_ranks: tuple[str, ...]) -> Directory:
    """The directory from its two CSV files."""
    return parse_directory(organisations_csv, people_csv, seniority_ranks)


def parse_directory(organisations_csv: Path | bytes, people_csv: Path | bytes, seniority_ranks: tuple[str, ...]) -> Directory:
    """The directory from the two CSVs, as files or as their bytes (an upload); ConfigError names the line."""
    organisations_name = str(organisations_csv) if isinstance(organisations_csv, Path) else "organisations CSV"
    people_name = str(people_csv) if isinstance(people_csv, Path) else "people CSV"
    organisations: dict[str, Organisation] = {}
    for line, row in _rows(organisations_csv, organisations_name, ("organisation", "domains")):
        domains = tuple(d.strip().lower().lstrip("@") for d in row["domains"].replace(",", " ").split() if d.strip())
        if not row["organisation"] or not domains:
            raise ConfigError(f"{organisations_name}:{line}: needs an organisation and at least one domain")
        organisation = Organisation(row["organisation"], domains)
        for domain in domains:
            organisations[domain] = organisation
    people: dict[str, Person] = {}
    for line, row in _rows(people_csv, people_name, ("email", "name", "organisation", "title", "seniority")):
        seniority = row["seniority"].strip().lower()
        if seniority not in seniority_ranks:
            raise ConfigError(
                f"{people_name}:{line}: seniority {row['seniority']!r} is not one of {', '.join(seniority_ranks)}"
            )
        if "@" not in row["email"]:
            raise ConfigError(f"{people_name}:{line}: {row['email']!r} is not an email address")
        email = row["email"].lower()
        people[email] = Person(email, row["name"], row["organisation"], row["title"], seniority)
    return Directory.of(organisations, people)


def as_csv_files(directory: Directory) -> tuple[str, str]:
    """The directory as the text of its two CSV files (organisations, people), cells made safe for spreadsheets."""
    organisations, people = io.StringIO(), io.StringIO()
    unique = sorted({o.name: o for o in directory.organisations.values()}.values(), key=lambda o: o.name)
    write_rows(organisations, [["organisation", "domains"], *([o.name, " ".join(o.domains)] for o in unique)])
    write_rows(people, [["email", "name", "organisation", "title", "seniority"],
                        *([p.email, p.name, p.organisation, p.title, p.seniority]
                          for p in sorted(directory.people.values(), key=lambda p: p.email))])
    return organisations.getvalue(), people.getvalue()
