"""Annotating a unit: the addresses, the names, the accesses and the cues one line of text holds. A golden case
that fails names the piece that broke here."""

from __future__ import annotations

import pytest

from mailbot.extract.access import How
from mailbot.extract.annotate import addresses
from mailbot.extract.rules import Cue
from reading import notes


def names(engine, text: str) -> list[str]:
    return [m.name for note in notes(engine, text) for m in note.names]


def mention(engine, text: str, name: str):
    return next(m for note in notes(engine, text) for m in note.names if m.name == name)


# -- names ------------------------------------------------------------------------------------------------------


def test_a_given_name_that_is_a_word_is_a_first_name_before_a_surname(engine):
    assert "May Chen" in names(engine, "Please set up May Chen (may.chen@harrowgatenursing.co.uk) as an Agency User.")
    assert "Will Hope" in names(engine, "Will Hope joined us this week.")
    april = mention(engine, "From 1 April, April Nakamura-Jones needs ARA.", "April Nakamura-Jones")
    assert april.given and april.words == 2


def test_a_sentence_opener_alone_is_no_name(engine):
    hope = mention(engine, "Hope you're well.", "Hope")
    assert hope.words == 1 and not hope.capitalised is False
    assert names(engine, "Thanks Jane for your help.") == ["Jane"]
    assert names(engine, "He's started already.") == []  # "He's": a pronoun, however capitalised


def test_words_that_are_not_names_are_counted(engine):
    assert names(engine, "Please Could You Set Up The Agency User Login On NHSP Online Today") == []


def test_a_job_title_a_team_or_a_workplace_ends_a_name(engine):
    assert names(engine, "BANK STAFF COORDINATOR Olu Bankole - olu.bankole@harrowgatenursing.co.uk") == ["Olu Bankole"]
    assert names(engine, "Sunita Varma Resourcer") == ["Sunita Varma"]
    assert names(engine, "She is our Branch Manager.") == []  # words that are not names on their own


def test_a_place_alone_is_a_place(engine):
    assert mention(engine, "She joined our Kendal office.", "Kendal").place


def test_an_organisation_of_the_directory_is_named_like_one(engine):
    assert mention(engine, "Everyone at Harrowgate is delighted.", "Harrowgate").organisation
    assert not mention(engine, "Please set up Ivy van der Berg.", "Ivy van der Berg").organisation


def test_honorifics_mark_a_person_and_are_dropped(engine):
    kowalczyk = mention(engine, "Please set Mrs Kowalczyk up.", "Kowalczyk")
    assert kowalczyk.honorific and kowalczyk.words == 1


@pytest.mark.parametrize("text, name", [
    ("van der Berg, Ivy   ivy.vanderberg@harrowgatenursing.co.uk", "Ivy van der Berg"),
    ("Hart, Lily <lily.hart@harrowgatenursing.co.uk>", "Lily Hart"),
    ("1. Okonkwo, Chidi - chidi.okonkwo@harrowgatenursing.co.uk", "Chidi Okonkwo"),
])
def test_surname_comma_given_name_is_one_name_turned_round(engine, text, name):
    assert name in names(engine, text)


def test_lower_case_words_spelling_the_address_are_a_name(engine):
    assert "kayode bello" in names(engine, "please set up kayode bello kayode.bello@harrowgatenursing.co.uk")
    assert "ruairí ó súilleabháin" in names(engine, "can u set ruairí ó súilleabháin up pls, email ruairi.osullivan@harrowgatenursing.co.uk")
    assert names(engine, "Name: Megan Lott Email: megan.lott@harrowgatenursing.co.uk").count("Megan Lott") >= 1
    assert not any("Email" in n for n in names(engine, "Name: Megan Lott\nEmail: megan.lott@harrowgatenursing.co.uk"))


def test_a_line_end_or_a_tab_ends_a_name(engine):
    assert "Sunita Varma" in names(engine, "Sunita Varma\tResourcer\tsunita.varma@harrowgatenursing.co.uk")


# -- addresses --------------------------------------------------------------------------------------------------


def test_an_address_ends_where_its_domain_ends():
    assert [a.email for a in addresses("felicity.barnard@quillfieldlocums.com.Best,")] == ["felicity.barnard@quillfieldlocums.com"]
    assert [a.email for a in addresses("JACK.WOODS@DAWNRIDGE.CO.UK")] == ["JACK.WOODS@DAWNRIDGE.CO.UK"]
    assert [a.email for a in addresses("(jo.bloggs@x.co.uk).")] == ["jo.bloggs@x.co.uk"]


# -- accesses ---------------------------------------------------------------------------------------------------


def accesses(engine, text: str) -> list[tuple[str, str, bool]]:
    return [(m.access, m.how.value, m.negated) for note in notes(engine, text) for m in note.accesses]


def test_access_levels_and_platforms_are_named_by_the_policy_phrases(engine):
    assert accesses(engine, "Please set up an AU and Connect login.") == [("agency_user", "named", False), ("nhsp_connect", "named", False)]
    assert accesses(engine, "She needs NHSP Online.") == [("platform:nhsp_online", "platform", False)]
    assert accesses(engine, "He needs the Agency Rate Adminstrator role.") == [("agency_rate_administrator", "named", False)]


def test_what_an_access_is_for_names_it(engine):
    found = accesses(engine, "so that she can view and add our rate cards and self-bill agreements")
    assert ("agency_rate_administrator", "purpose", False) in found
    assert ("nhsp_connect", "purpose", False) in accesses(engine, "so he can view his bookings and upload timesheets")
    assert ("agency_user", "purpose", False) in accesses(engine, "she will be running the booking reports")


def test_a_purpose_counts_only_where_access_is_asked_or_a_capability_described(engine):
    [note] = [n for n in notes(engine, "Our rate cards are out of date.") if n.unit.kind == "sentence"]
    assert note.accesses and not note.requested_accesses()
    [note] = [n for n in notes(engine, "Please set her up so she can manage our rate cards.") if n.unit.kind == "sentence"]
    assert [m.how for m in note.requested_accesses()] == [How.PURPOSE]


def test_an_access_said_not_to_be_wanted_is_negated(engine):
    assert accesses(engine, "Ellis does not need Connect.") == [("nhsp_connect", "named", True)]
    assert accesses(engine, "Agency User instead of ARA please")[1][2] is True


# -- cues -------------------------------------------------------------------------------------------------------


def cues(engine, text: str) -> set[Cue]:
    return {cue for note in notes(engine, text) if note.unit.kind == "sentence" for cue in note.cues}


@pytest.mark.parametrize("text, cue", [
    ("Please ignore number 2.", Cue.EXCLUDE_AFTER),
    ("Kerry is replacing Janine Cole.", Cue.EXCLUDE_AFTER),
    ("Euan left us on Friday.", Cue.EXCLUDE_BEFORE),
    ("Trevor has retired.", Cue.EXCLUDE_BEFORE),
    ("Jake already has Agency User.", Cue.ALREADY),
    ("I currently only have Agency User.", Cue.ALREADY),
    ("Could she also have ARA?", Cue.ADDITIVE),
    ("Could you set me up please?", Cue.SELF),
    ("I've cc'd Chloe so she knows.", Cue.CONTACT),
    ("Please remove his Agency User access.", Cue.REMOVAL),
    ("Both are up and running, thanks.", Cue.DONE),
    ("Our invoice 123 is wrong.", Cue.MATTER),
])
def test_cue_words_come_from_the_reading_rules(engine, text, cue):
    assert cue in cues(engine, text)


def test_a_number_reference_and_a_list_number_are_read(engine):
    found = notes(engine, "Please set up:\n\n1. Jo Bloggs - jo@x.co.uk\n2. Al Smith - al@x.co.uk\n\nPlease ignore number 2.")
    assert [n.item_number for n in found if n.unit.kind == "item"] == [1, 2]
    assert [n.number_references for n in found if n.number_references] == [(2,)]


def test_password_help_is_read_from_the_rules(engine):
    assert any(n.password for n in notes(engine, "I never received my password email, how do I reset it?"))
    assert not any(n.password for n in notes(engine, "She will then receive an email to create a password."))


# -- cue patterns made one ---------------------------------------------------------------------------------------

import re as _re  # noqa: E402
from pathlib import Path  # noqa: E402

from mailbot.extract.rules import one_pattern, _top_level_alternation  # noqa: E402


def test_patterns_that_start_at_a_word_boundary_share_it_and_the_others_keep_theirs():
    assert one_pattern([r"\bplease\b", r"forg[oe]t", r"\bfoo|bar"]) == r"\b(?:(?:please\b))|(?:forg[oe]t)|(?:\bfoo|bar)"
    assert _top_level_alternation(r"\bfoo|bar") and not _top_level_alternation(r"\b(?:foo|bar)[|]\|")


def test_the_shipped_cues_made_one_find_what_each_pattern_finds_alone():
    import tomllib

    root = Path(__file__).resolve().parents[1]
    cues = tomllib.loads((root / "config" / "reading.toml").read_text(encoding="utf-8"))["cues"]
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted((root / "tests" / "data").glob("cases*/*.eml"))]
    lines = [line for text in texts for line in text.splitlines() if line.strip()][:4000]
    for name, patterns in cues.items():
        one = _re.compile(one_pattern(patterns), _re.I)
        each = [_re.compile(p, _re.I) for p in patterns]
        for line in lines:
            assert bool(one.search(line)) == any(p.search(line) for p in each), (name, line)
