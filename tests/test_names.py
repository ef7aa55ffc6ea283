"""Names: found in running text, tidied, and matched to addresses."""

from __future__ import annotations

from mailbot.extract.names import clean_name, find_names, fold, is_full_name, local_part_score


def names(text: str) -> list[str]:
    return [n for _, _, n in find_names(text)]


def test_names_are_found_as_written_without_honorifics():
    assert names("Please add Mrs Janet Oyelaran as an Agency User on NHSP:Online.") == ["Janet Oyelaran"]
    assert names("1. Łukasz Wróblewski – l.w@x.co.uk") == ["Łukasz Wróblewski"]
    assert names("Set up Niamh Ó Súilleabháin and Seán O'Neill-Kerr please") == ["Niamh Ó Súilleabháin", "Seán O'Neill-Kerr"]
    assert names("Could you give Aoife Brennan Agency Rate Administrator access?") == ["Aoife Brennan"]


def test_sentence_words_and_access_words_are_not_names():
    assert names("Please Could You Set Up The Agency User Login On NHSP Online Today") == []


def test_surname_comma_firstname_is_turned_round():
    assert clean_name("Lott, Megan") == "Megan Lott"
    assert clean_name("Dr. Okafor, Dana") == "Dana Okafor"
    assert clean_name("Mr J Smith") == "J Smith"


def test_full_names_need_a_first_name_and_a_surname():
    assert is_full_name("Megan Lott")
    assert not is_full_name("Becky")
    assert not is_full_name("J Smith")
    assert not is_full_name(None)


def test_fold_drops_accents_and_special_letters():
    assert fold("Łukasz Wróblewski") == "lukaszwroblewski"
    assert fold("Søren Ærø") == "sorenaero"


def test_local_part_matching():
    assert local_part_score("Daniel Osei-Bonsu", "daniel.osei-bonsu@x.co.uk") == 3
    assert local_part_score("Niamh Ó Súilleabháin", "niamh.osuilleabhain@x.co.uk") == 3
    assert local_part_score("Natasha Greenhalgh", "natasha.greenhalgh.rgn@gmail.com") == 3
    assert local_part_score("John Smith", "jsmith@x.co.uk") == 2
    assert local_part_score("Becky", "becky.h@x.co.uk") == 2
    assert local_part_score("Megan Lott", "hr@x.co.uk") == 0
