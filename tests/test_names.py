"""Names as text: tidied as written, folded for comparison, and how well an address spells one."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.extract.lexicon import Lexicon
from mailbot.extract.names import clean_name, fold, is_full_name, is_person_name, same_person, spelling

LEXICON = Lexicon.load(Path(__file__).resolve().parents[1] / "config" / "lexicon")


def test_surname_comma_firstname_is_turned_round_and_honorifics_go():
    assert clean_name("Lott, Megan") == "Megan Lott"
    assert clean_name("Dr. Okafor, Dana") == "Dana Okafor"
    assert clean_name("Mr J Smith") == "J Smith"
    assert clean_name("Laura Price's") == "Laura Price"


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "Jane visit www.evil.example now", "Jane Doe2", "+44 Jane", "@jane", "evil.example Jo"])
def test_text_that_cannot_be_a_name(text):
    assert not is_person_name(text) and clean_name(text) is None


def test_full_names_need_a_first_name_and_a_surname():
    assert is_full_name("Megan Lott") and is_full_name("Siân ap Rhys")
    assert not is_full_name("Becky") and not is_full_name("J Smith") and not is_full_name(None)


def test_fold_drops_accents_and_special_letters():
    assert fold("Łukasz Wróblewski") == "lukaszwroblewski"
    assert fold("Søren Ærø") == "sorenaero"


def test_one_person_by_first_name_or_initial_and_surname():
    assert same_person("Ruth", "Ruth Adeyemi") and same_person("Mrs J Oyelaran", "Janet Oyelaran")
    assert not same_person("Ruth Adeyemi", "Ruth Brown")


@pytest.mark.parametrize("name, email, score", [
    ("Daniel Osei-Bonsu", "daniel.osei-bonsu@x.co.uk", 3),  # hyphenated
    ("Niamh Ó Súilleabháin", "niamh.osuilleabhain@x.co.uk", 3),  # accents folded
    ("Natasha Greenhalgh", "natasha.greenhalgh.rgn@gmail.com", 3),  # a suffix after the surname
    ("Ivy van der Berg", "ivy.vanderberg@x.co.uk", 3),  # particles run together
    ("Siân ap Rhys", "sian.aprhys@x.cymru", 3),
    ("Frank O'Brien", "frank.obrien@x.co.uk", 3),  # apostrophe dropped
    ("Hamish McRae", "hamish.mcrae@x.co.uk", 3),
    ("Rose Adjei-Mensah", "adjei-mensah.rose@x.co.uk", 3),  # surname first
    ("Oluwaseun Adebayo-Reid", "seun.adebayo-reid@x.co.uk", 3),  # a short form of the given name
    ("Robert Featherstone-Hale", "bob.featherstone-hale@x.co.uk", 3),
    ("Katherine de Souza", "kate.desouza@x.co.uk", 3),
    ("John Smith", "jsmith@x.co.uk", 2),  # initial and surname
    ("Will Hope", "w.hope@x.co.uk", 2),
    ("Becky", "becky.h@x.co.uk", 2),  # the one name there is
    ("Jamie O'Neill", "jamie@x.co.uk", 1),  # only the first name of a full name
    ("Megan Lott", "hr@x.co.uk", 0),
    ("Trevor Hammill", "lorraine.dunbar@x.co.uk", 0),
])
def test_how_well_an_address_spells_a_name(name, email, score):
    assert spelling(name, email, LEXICON.forms_of) == score


def test_short_forms_come_from_the_lexicon_not_the_code():
    assert spelling("Oluwaseun Adebayo", "seun.adebayo@x.co.uk") < 3  # no lexicon: seun is not oluwaseun
    assert spelling("Oluwaseun Adebayo", "seun.adebayo@x.co.uk", LEXICON.forms_of) == 3


def test_a_name_set_answers_as_same_person_does_for_each_name_in_it():
    from mailbot.extract.names import NameSet, same_person

    names = ["Dr Jane Doe", "J Smith", "Ann", "José Álvarez"]
    for query in ("Jane Doe", "jane", "John Smith", "J Doe", "Ann Lee", "Jose Alvarez", "Ann-Marie Jones", "Mr Smith", ""):
        assert (query in NameSet(names)) == any(same_person(query, n) for n in names), query
