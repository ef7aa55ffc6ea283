"""Who is asked for, and for what: the people a message names, the name each address goes with, who is only
context, and each person's own accesses. One short message each, so a golden case that fails names the rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailbot.errors import ConfigError
from mailbot.extract.rules import Weights, load_reading
from mailbot.settings import load_settings
from mailbot.triage import Triage
from reading import doubts, notes, requests

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
H = "harrowgatenursing.co.uk"


# -- the name that goes with an address --------------------------------------------------------------------------


def test_the_address_that_spells_a_name_outweighs_the_nearest_capitalised_word(engine):
    assert requests(engine, f"Please set up Hope Adams as an Agency User; Will Ashby will show her round. Her email is hope.adams@{H}") == [
        ("Hope Adams", f"hope.adams@{H}", "agency_user")]


def test_the_fullest_form_of_a_name_the_message_gives(engine):
    body = f"Ravi Chandran joins us on Monday. Please set Ravi up as an Agency User: ravi.chandran@{H}"
    assert requests(engine, body) == [("Ravi Chandran", f"ravi.chandran@{H}", "agency_user")]


def test_each_name_goes_with_one_address_one_to_one(engine):
    body = f"Please set up as Agency Users:\n\nJo Bloggs jo.bloggs@{H}\nAl Smith al.smith@{H}\n"
    assert requests(engine, body) == [("Jo Bloggs", f"jo.bloggs@{H}", "agency_user"), ("Al Smith", f"al.smith@{H}", "agency_user")]


def test_her_email_is_points_back_to_the_person_asked_for(engine):
    body = f"Please could you set Mrs Kowalczyk up with Agency User access?\n\nHer email: j.kowalczyk@{H}"
    assert requests(engine, body) == [("Kowalczyk", f"j.kowalczyk@{H}", "agency_user")]


def test_a_role_mailbox_is_no_person(engine):
    body = f"Please set up Jo Bloggs (jo.bloggs@{H}) as an Agency User. Queries to the compliance inbox compliance@{H}."
    assert requests(engine, body) == [("Jo Bloggs", f"jo.bloggs@{H}", "agency_user")]


# -- who is only context ----------------------------------------------------------------------------------------------


def test_a_leaver_named_after_the_list_is_left_out(engine):
    body = (f"Please set up Agency User logins:\n\n1. Shona Gillespie - shona.gillespie@{H}\n2. Euan Moffat - euan.moffat@{H}\n\n"
            "Please ignore number 2 - Euan left us on Friday.")
    assert requests(engine, body) == [("Shona Gillespie", f"shona.gillespie@{H}", "agency_user")]


def test_a_predecessor_is_not_the_requester(engine):
    body = (f"Lorraine Dunbar (lorraine.dunbar@{H}) retired at the end of December. Scott Ferrie has taken over from her "
            "and needs access to NHSP:Connect.")
    assert requests(engine, body) == [("Scott Ferrie", None, "nhsp_connect")]


def test_replacing_excludes_the_one_replaced_not_the_one_asked_for(engine):
    body = f"Kerry Brown is replacing Janine Cole, who left us last week. Please set Kerry up as an Agency User - her email is kerry.brown@{H}"
    assert requests(engine, body) == [("Kerry Brown", f"kerry.brown@{H}", "agency_user")]


def test_a_colleague_copied_in_is_not_a_requester(engine):
    body = (f"Please set up Jo Bloggs (jo.bloggs@{H}) as an Agency User.\n\nI've cc'd Chloe Ferrand (chloe.ferrand@{H}) so she knows "
            "- Chloe doesn't need anything herself.")
    assert requests(engine, body) == [("Jo Bloggs", f"jo.bloggs@{H}", "agency_user")]


def test_one_more_access_for_someone_who_has_one_asks_for_that_one(engine):
    body = f"Jake Ingham already has Agency User access. Could you please add NHSP:Connect for him as well? His email is jake.ingham@{H}."
    assert requests(engine, body) == [("Jake Ingham", f"jake.ingham@{H}", "nhsp_connect")]


def test_a_row_for_information_only_asks_nothing(engine):
    body = (f"Please set up:\n\nAyo Bankole | ayo.bankole@{H} | Agency Rate Administrator\n"
            f"Kamal Haque | kamal.haque@{H} | None - already has Agency User\n")
    assert requests(engine, body) == [("Ayo Bankole", f"ayo.bankole@{H}", "agency_rate_administrator")]


# -- each person's accesses ------------------------------------------------------------------------------------------


def test_an_access_belongs_to_the_person_its_part_of_the_sentence_is_about(engine):
    body = (f"Please could you set Kofi Mensah (kofi.mensah@{H}) up to manage our rate cards and self-bill agreements, "
            f"and Imelda Lomax (imelda.lomax@{H}) to view requests and add and edit candidate profiles?")
    assert requests(engine, body) == [("Kofi Mensah", f"kofi.mensah@{H}", "agency_rate_administrator"),
                                      ("Imelda Lomax", f"imelda.lomax@{H}", "agency_user")]


def test_a_request_for_everyone_heads_the_list(engine):
    body = f"Please set the following up as Agency Users:\n\n- Jo Bloggs - jo.bloggs@{H}\n- Al Smith - al.smith@{H}\n"
    assert [r[2] for r in requests(engine, body)] == ["agency_user", "agency_user"]


def test_what_the_access_is_for_says_which_level_of_a_platform(engine):
    body = (f"Niamh Kearney has joined our head office team. She'll be looking after our rate cards and checking the invoices. "
            f"Could she please have access on NHSP:Online? Niamh's work email: niamh.kearney@{H}")
    assert requests(engine, body) == [("Niamh Kearney", f"niamh.kearney@{H}", "agency_rate_administrator")]


def test_a_login_alone_names_no_level(engine):
    assert requests(engine, f"Please give Jo Bloggs (jo.bloggs@{H}) a login.") == [("Jo Bloggs", f"jo.bloggs@{H}", None)]


def test_the_author_asks_for_themselves(engine):
    assert requests(engine, "Could you set me up as an Agency User please?") == [
        ("Maria Santos", "maria.santos@harrowgatenursing.co.uk", "agency_user")]


def test_a_forwarded_me_is_the_forwards_author_not_the_sender(engine):
    body = ("Please see Faith's note below - can you set her up with NHSP:Connect?\n\n---------- Forwarded message ---------\n"
            f"From: Osei-Tutu, Faith <faith.osei-tutu@{H}>\nSubject: Connect\n\nCould you ask NHSP for me to get NHSP:Connect please?\n")
    assert requests(engine, body) == [("Faith Osei-Tutu", f"faith.osei-tutu@{H}", "nhsp_connect")]


# -- the self-check ---------------------------------------------------------------------------------------------------


def test_a_name_the_address_contradicts_is_a_doubt(engine):
    found = doubts(engine, f"Name: Trevor Hammill\nEmail: lorraine.dunbar@{H}\nAccess: Agency User")
    assert any("does not match" in d for d in found)


def test_a_clear_request_has_no_doubt(engine):
    assert doubts(engine, f"Please set up Jo Bloggs (jo.bloggs@{H}) as an Agency User.") == ()


def test_an_organisation_read_as_a_person_is_a_doubt(engine):
    found = doubts(engine, f"Name: Harrowgate Nursing\nEmail: jo.bloggs@{H}\nAccess: Agency User")
    assert found


# -- the rules and weights are data ---------------------------------------------------------------------------------


def test_the_weights_score_a_sum_of_features():
    weights = Weights({"a": 2.0, "b": -1.0, "threshold": 1.0, "margin": 0.5})
    assert weights.score({"a": 1.0, "b": 3.0, "c": 9.0}) == -1.0
    assert (weights.threshold, weights.margin) == (1.0, 0.5)


def test_a_bad_pattern_in_the_reading_rules_is_one_line_naming_the_key(tmp_path):
    path = tmp_path / "reading.toml"
    text = (ROOT / "config" / "reading.toml").read_text(encoding="utf-8")
    path.write_text(text.replace("additive = ['", "additive = ['(unclosed', '", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="cues.additive"):
        load_reading(path)


def test_an_access_level_added_to_the_policy_is_found_in_mail_without_a_code_change(tmp_path):
    """A copy of config/policy.toml with one more access level and its phrases: mailbot reads it in mail."""
    folder = tmp_path / "config"
    shutil.copytree(DATA, folder, ignore=shutil.ignore_patterns("cases*", "independent", "attacks"))
    policy = (ROOT / "config" / "policy.toml").read_text(encoding="utf-8")
    policy = policy.replace("[access.247_time]", '''[access.bank_staff_viewer]
label = "NHSP Bank Staff Viewer"
grant = "endorse"
minimum_seniority = "manager"
endorsed_by = "a Manager of your organisation"
phrases = ['\\bbank[\\s-]*staff[\\s-]*viewer\\b']
purposes = ['\\bsee\\s+(?:our\\s+)?bank\\s+staff\\b']

[access.247_time]''')
    (folder / "policy.toml").write_text(policy, encoding="utf-8")
    config = folder / "mailbot.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[policy]\nfile = "policy.toml"\n', encoding="utf-8")
    engine = Triage.from_settings(load_settings(config))
    assert requests(engine, f"Please set up Jo Bloggs (jo.bloggs@{H}) as a Bank Staff Viewer.") == [
        ("Jo Bloggs", f"jo.bloggs@{H}", "bank_staff_viewer")]
    assert requests(engine, f"Please set Jo Bloggs (jo.bloggs@{H}) up so she can see our bank staff.") == [
        ("Jo Bloggs", f"jo.bloggs@{H}", "bank_staff_viewer")]
    decision = engine.run(__import__("reading").message(f"Please set up Jo Bloggs (jo.bloggs@{H}) as a Bank Staff Viewer.")).decision
    assert decision.outcome == "approved"


# -- what the last batches taught (one line each) ------------------------------------------------------------------


def test_what_the_author_says_they_hold_already_is_no_request_for_themselves(engine):
    body = f"I already have ARA access myself, but could you give Joanne Pickersgill ARA: joanne.pickersgill@{H}"
    assert requests(engine, body) == [("Joanne Pickersgill", f"joanne.pickersgill@{H}", "agency_rate_administrator")]


def test_a_predecessor_named_outside_the_asking_clause_leaves_a_self_request_alone(engine):
    body = "I've taken over from Esme Talbot, so could I please have Agency User access?"
    assert requests(engine, body) == [("Maria Santos", f"maria.santos@{H}", "agency_user")]


def test_a_person_named_in_the_asking_clause_is_whom_it_asks_for(engine):
    body = f"Could I please get Jane Smith set up as an Agency User? jane.smith@{H}"
    assert requests(engine, body) == [("Jane Smith", f"jane.smith@{H}", "agency_user")]


def test_the_senders_own_address_in_a_footer_asks_for_nothing(engine):
    body = (f"Please set up Jo Bloggs as an Agency User: jo.bloggs@{H}\n\n"
            f"Sent by Maria Santos (maria.santos@{H}) using Staffora CRM.")
    assert requests(engine, body) == [("Jo Bloggs", f"jo.bloggs@{H}", "agency_user")]


def test_a_name_after_the_and_before_a_noun_is_a_place_not_a_person(engine):
    body = f"Please set Shona up on NHSP:Connect: shona.pettigrew@{H}. She also needs 247 Time for the Royal Infirmary shifts."
    assert {r[0] for r in requests(engine, body)} == {"Shona"}  # and no "Royal Infirmary"


def test_a_word_inside_an_address_is_no_cue(engine):
    body = f"Please set up Agency User for urgent-call-now@{H}"  # "call" is a contact cue, but not inside an address
    assert requests(engine, body) == [(None, f"urgent-call-now@{H}", "agency_user")]


def test_a_cue_written_with_a_typographic_apostrophe_reads_as_with_a_plain_one(engine):
    body = f"I was set up on NHSP Connect last week but I haven\u2019t been given a password. How do I create one?"
    assert [r[2] for r in requests(engine, body)] == ["password_help"]


def test_a_person_the_message_says_to_ignore_by_full_name_is_left_out_even_when_only_an_address_names_them(engine):
    body = f"Please set up the two below as Agency Users.\n\n- ayo.bankole@{H}\n- dan.whitely@{H}\n\nPlease ignore Dan Whitely, he has withdrawn."
    assert [r[1] for r in requests(engine, body)] == [f"ayo.bankole@{H}"]


def test_an_already_clause_ends_at_its_comma_not_at_a_later_can(engine):
    body = ("Tom already has ARA access and can see the invoice on NHSP:Online, so no access changes are needed. "
            "Could someone please look at the invoice?")
    assert requests(engine, body) == []


def test_a_person_named_like_an_organisation_is_not_doubted_when_the_address_spells_the_name(engine):
    # "Harrowgate" is the test directory's organisation; harrowgate.smith@ spells the name whole
    assert doubts(engine, f"Please set up Harrowgate Smith as an Agency User: harrowgate.smith@{H}") == ()


def test_a_name_and_an_address_hard_wrapped_at_their_hyphen_are_joined_again(engine):
    body = (f"Please set up Marguerite Oyinlola-\nBassey as an Agency User. Her email is marguerite.oyinlola-\n"
            f"bassey@{H} - she started on Monday.")
    assert requests(engine, body) == [("Marguerite Oyinlola-Bassey", f"marguerite.oyinlola-bassey@{H}", "agency_user")]


@pytest.mark.parametrize("body", [
    f"Please set up Tom Reid (tom.reid@{H}) as an Agency User, but not until I confirm his start date.",
    f"If Tom Reid (tom.reid@{H}) passes his probation, please set him up as an Agency User.",
    f"Tom Reid (tom.reid@{H}) needs Agency User or Connect - I'll confirm which one tomorrow.",
])
def test_a_request_that_waits_on_a_condition_or_a_choice_is_doubted(engine, body):
    assert any("condition" in d for d in doubts(engine, body))


def test_let_me_know_if_you_need_anything_is_no_condition(engine):
    assert doubts(engine, f"Please set up Tom Reid (tom.reid@{H}) as an Agency User. Let me know if you need anything.") == ()


@pytest.mark.parametrize("context", [
    "Jane Doe (jane.doe@{H}) finished with us last week.",
    "Please give him the same access as Jane Doe (jane.doe@{H}).",
    "Jane Doe (jane.doe@{H}) has gone on maternity leave, so no need to do anything for her.",
    "Thanks for setting up Jane Doe (jane.doe@{H}) last week.",
    "Could you swap the login from Jane Doe (jane.doe@{H}) to him?",
])
def test_a_person_named_only_as_context_beside_a_request_is_not_asked_for(engine, context):
    body = f"Please set up Tom Reid (tom.reid@{H}) as an Agency User. " + context.format(H=H)
    assert [r[1] for r in requests(engine, body)] == [f"tom.reid@{H}"]


# -- the third sealed round (tests/data/independent/*-round3) -------------------------------------------------------


def test_a_leaver_who_left_the_agency_is_not_given_what_the_subject_asks_for_someone_else(engine):
    body = (f"Sophie Lambton (sophie.lambton@{H}) left Harrowgate at the end of October. Her replacement, Tamara Osei, "
            f"started today. Could you please set Tamara up? Tamara Osei tamara.osei@{H}")
    assert requests(engine, body, subject="Agency User login (Tamara Osei)") == [("Tamara Osei", f"tamara.osei@{H}", "agency_user")]


def test_a_table_column_of_line_managers_is_context(engine):
    body = (f"Both need NHSP:Connect please.\n\nName | Work email | Reports to\n"
            f"Kwabena Asamoah | kwabena.asamoah@{H} | Fiona MacAskill <fiona.macaskill@{H}>\n")
    assert requests(engine, body) == [("Kwabena Asamoah", f"kwabena.asamoah@{H}", "nhsp_connect")]


def test_a_postscript_after_the_sign_off_is_read(engine):
    body = (f"Could you set up Agency User logins for:\n\nAnya Petrova - anya.petrova@{H}\nLiam Gorecki - liam.gorecki@{H}\n\n"
            "Thanks,\nMaria\n\nP.S. Sorry - scratch Liam, he's handed his notice in.")
    assert [r[1] for r in requests(engine, body)] == [f"anya.petrova@{H}"]


def test_what_the_author_has_had_for_years_is_not_asked_for(engine):
    body = "I've had an Agency User login for a few years now and that's all fine. Could you please also give me NHSP:Connect?"
    assert [r[2] for r in requests(engine, body)] == ["nhsp_connect"]


def test_a_pronoun_after_replacing_is_not_the_one_doing_the_replacing(engine):
    body = (f"Martin Haworth (martin.haworth@{H}) finishes with us on Friday. Jess is replacing him and will need an "
            f"Agency User login. Her email address is jess.k@{H}.")
    assert [r[1] for r in requests(engine, body)] == [f"jess.k@{H}"]


def test_a_password_question_about_he_is_the_colleagues_not_the_authors(engine):
    body = (f"My own login is working fine - this is about our new consultant, Reuben Astley. He got his username but no "
            f"password and he isn't sure how to create one. His email is reuben.astley@{H}.")
    assert requests(engine, body) == [("Reuben Astley", f"reuben.astley@{H}", "password_help")]


def test_a_person_on_hold_in_a_list_is_left_out_and_holds_up_nobody_else(engine):
    body = (f"Please set up Agency User access for:\n\n- Rashida Begum - rashida.begum@{H}\n"
            f"- Craig Dunmore - craig.dunmore@{H} - ON HOLD: please do not set Craig up until I confirm\n")
    assert requests(engine, body) == [("Rashida Begum", f"rashida.begum@{H}", "agency_user")]
    assert doubts(engine, body) == ()


def test_not_got_his_work_account_yet_is_not_having_it(engine):
    body = f"Please set up Agency User for:\n\n- Tom Ashby - tom.ashby@{H} (he's not got his work account yet)\n"
    assert [r[2] for r in requests(engine, body)] == ["agency_user"]


# -- round 4: what the fourth sealed batch found ------------------------------------------------------------------


def test_a_form_field_with_a_hint_names_the_person_surname_first(engine):
    body = (f"Please see our access form below.\n\nNew user (Surname, First name): Okonjo-Baptiste, Temi\n"
            f"New user work email: temi.okonjo-baptiste@{H}\nSystem required: NHSP:Connect\n")
    assert requests(engine, body) == [("Temi Okonjo-Baptiste", f"temi.okonjo-baptiste@{H}", "nhsp_connect")]


def test_whoever_fills_in_a_form_is_not_the_person_it_asks_for(engine):
    body = (f"Please see our access form below.\n\nForm submitted by: Nisha Raval (nisha.raval@{H})\n"
            f"New user name: Temi Okonjo\nNew user work email: temi.okonjo@{H}\nSystem required: NHSP:Connect\n")
    assert requests(engine, body) == [("Temi Okonjo", f"temi.okonjo@{H}", "nhsp_connect")]


def test_a_name_joined_by_and_to_a_person_asked_for_is_asked_for_too(engine):
    body = f"Please could you set up Agency User access for Mia Carrick (mia.carrick@{H}) and Joe Pennock."
    assert requests(engine, body) == [("Mia Carrick", f"mia.carrick@{H}", "agency_user"), ("Joe Pennock", None, "agency_user")]


def test_the_same_as_a_colleague_is_a_reference_not_a_request(engine):
    body = (f"Please set up Ines Carvalho (ines.carvalho@{H}) as an Agency User, the same as Tomasz Wrona who you set up "
            f"in February. Tomasz (tomasz.wrona@{H}) will show her round, so nothing needs to change on his account.")
    assert requests(engine, body) == [("Ines Carvalho", f"ines.carvalho@{H}", "agency_user")]


def test_one_too_asks_again_for_the_access_a_colleague_already_has(engine):
    body = f"Martin already has a 247 Time login - could Farah Iqbal have one too please? Her email is farah.iqbal@{H}."
    assert requests(engine, body) == [("Farah Iqbal", f"farah.iqbal@{H}", "247_time")]


# -- round 5: what the fifth sealed batch found ------------------------------------------------------------------


def test_lines_that_each_start_with_a_name_and_a_dash_are_a_list_even_without_addresses(engine):
    body = (f"Hi, can you set up agency user logins for our 2 new starters please\n\nKwabena Asare - his work email isn't set "
            f"up yet, IT are on it\nZara Whitmore - zara.whitmore@{H}\n")
    assert requests(engine, body) == [("Kwabena Asare", None, "agency_user"), ("Zara Whitmore", f"zara.whitmore@{H}", "agency_user")]


def test_a_column_labelled_surname_forename_holds_the_whole_name(engine):
    body = (f"Please set these up.\n\nName (Surname, Forename) | Job title | Work email | Access\nKaur-Bhamra, Simran | Finance Officer | "
            f"simran.kaur-bhamra@{H} | Agency User\nMensah, Abena | Consultant | abena.mensah@{H} | Agency User\n")
    assert requests(engine, body) == [("Simran Kaur-Bhamra", f"simran.kaur-bhamra@{H}", "agency_user"),
                                      ("Abena Mensah", f"abena.mensah@{H}", "agency_user")]


def test_an_access_followed_by_for_goes_to_everyone_named_after_it(engine):
    body = (f"Please set up Agency User for Hamza Rehman and Lucy Brien, and NHSP:Connect for Lucy only.\n\n"
            f"Hamza Rehman - hamza.rehman@{H}\nLucy Brien - lucy.brien@{H}\n")
    assert requests(engine, body) == [("Hamza Rehman", f"hamza.rehman@{H}", "agency_user"),
                                      ("Lucy Brien", f"lucy.brien@{H}", "agency_user"), ("Lucy Brien", f"lucy.brien@{H}", "nhsp_connect")]


def test_a_correction_replaces_the_access_it_takes_back(engine):
    body = (f"Please could you set Ifeoma Obi up as an Agency User? Her email is ifeoma.obi@{H}\n\n"
            "P.S. Sorry - I meant NHSP:Connect, not Agency User.")
    assert requests(engine, body) == [("Ifeoma Obi", f"ifeoma.obi@{H}", "nhsp_connect")]


def test_a_password_question_about_a_named_colleague_is_hers_and_asks_no_access(engine):
    body = (f"Please set up NHSP:Connect for Maryam Haddadi (maryam.haddadi@{H}).\n\nSeparately, Chloe Marsden "
            f"(chloe.marsden@{H}) tells me she has never received a password email for NHSP Online. How does she create one?")
    assert requests(engine, body, subject="Connect access + password query") == [
        ("Maryam Haddadi", f"maryam.haddadi@{H}", "nhsp_connect"), ("Chloe Marsden", f"chloe.marsden@{H}", "password_help")]


def test_someone_to_send_things_to_is_a_contact_not_a_requester(engine):
    body = ("Rosa Villanueva joins us on Monday and will need Agency User access. Her work mailbox isn't set up yet, so for now "
            f"her email is rosa.villanueva@outlook.com. Until it is, please send anything for her to her manager, Desmond Boateng "
            f"(desmond.boateng@{H}).")
    assert requests(engine, body) == [("Rosa Villanueva", "rosa.villanueva@outlook.com", "agency_user")]


def test_the_same_access_as_a_colleague_whose_access_is_stated(engine):
    body = ("Please could Isla Cameron be given the same access as Jamie Reid? Jamie has Agency User and NHSP:Connect, "
            f"and Isla will be sharing his workload from next week.\n\nIsla's work email is isla.cameron@{H}")
    assert requests(engine, body) == [("Isla Cameron", f"isla.cameron@{H}", "agency_user"),
                                      ("Isla Cameron", f"isla.cameron@{H}", "nhsp_connect")]


# -- round 6 ------------------------------------------------------------------------------------------------------


def test_lines_each_with_their_own_address_are_items_however_long(engine):
    body = (f"Please set up the access below.\n\nBrennan-Kaye, Hollie \u2013 hollie.brennan-kaye@{H} \u2013 Agency User\n"
            f"Nowicki, Marek \u2013 marek.nowicki@{H} \u2013 Agency User and NHSP:Connect\n")
    items = [n.text for n in notes(engine, body) if n.unit.kind == "item"]
    assert [text.split(" \u2013 ")[0] for text in items] == ["Brennan-Kaye, Hollie", "Nowicki, Marek"]


def test_a_line_marked_no_change_asks_for_nothing(engine):
    body = (f"Please set up the access below; anyone marked (no change) already has it.\n\n"
            f"Obi, Adaeze - adaeze.obi@{H} - Agency Rate Administrator (no change)\nRoss, Ian - ian.ross@{H} - Agency User\n")
    assert requests(engine, body) == [("Ian Ross", f"ian.ross@{H}", "agency_user")]


def test_a_short_form_of_a_first_name_refers_to_the_person_named_in_full(engine):
    body = (f"Please could you set them both up as Agency Users:\n\n- Katherine Whitfield - katherine.whitfield@{H}\n"
            f"- Sunil Rao - sunil.rao@{H}\n\nKate will also be covering the bookings desk, so could she have NHSP:Connect as well, please?")
    assert sorted(requests(engine, body)) == [("Katherine Whitfield", f"katherine.whitfield@{H}", "agency_user"),
                                              ("Katherine Whitfield", f"katherine.whitfield@{H}", "nhsp_connect"),
                                              ("Sunil Rao", f"sunil.rao@{H}", "agency_user")]


def test_she_after_a_name_nobody_else_bears_is_not_the_last_person_listed(engine):
    body = (f"Please could you set them both up as Agency Users:\n\n- Katherine Whitfield - katherine.whitfield@{H}\n"
            f"- Sunil Rao - sunil.rao@{H}\n\nHannah will also be covering the bookings desk, so could she have NHSP:Connect?")
    assert ("Sunil Rao", f"sunil.rao@{H}", "nhsp_connect") not in requests(engine, body)


def test_for_her_too_adds_a_person_not_the_access_asked_for_everyone(engine):
    body = (f"Can you please set up Agency User logins for our two new consultants:\n\n- Ayo Ogun - ayo.ogun@{H}\n"
            f"- Lottie Beau - lottie.beau@{H}\n\nPS - Maya Chen (maya.chen@{H}) needs a 247 Time login, can you sort that for her too")
    assert requests(engine, body)[2:] == [("Maya Chen", f"maya.chen@{H}", "247_time")]


def test_a_lower_case_hyphenated_first_name_the_address_spells(engine):
    body = f"agncy user pls for jo-ann mcintyre jo-ann.mcintyre@{H} thx"
    assert requests(engine, body) == [("jo-ann mcintyre", f"jo-ann.mcintyre@{H}", "agency_user")]


def test_a_lower_case_given_name_alone_that_the_address_spells_is_her_name(engine):
    body = f"Hi pls cn u set up Connect for priya priya.s@{H} shes startd on mon."
    assert requests(engine, body, subject="Connect") == [("priya", f"priya.s@{H}", "nhsp_connect")]


def test_set_them_both_up_in_a_later_paragraph_asks_for_each_person_named_before(engine):
    body = (f"Samuel Adjei (samuel.adjei@{H}) is doing our payroll, so he needs to be able to upload timesheets.\n\n"
            f"Lucy Thorne (lucy.thorne@{H}) is our new coordinator and just needs to see the shifts.\n\nCould you set them both up please?")
    assert requests(engine, body) == [("Samuel Adjei", f"samuel.adjei@{H}", "nhsp_connect"), ("Lucy Thorne", f"lucy.thorne@{H}", None)]


def test_self_bill_and_rate_card_in_an_invoice_query_ask_for_no_access(engine):
    body = ("I'd like to query self-bill invoice SB-2025-04127. Three night shifts have been billed at the old rate card.\n\n"
            "Could someone in the invoicing team look at this?")
    assert requests(engine, body, subject="Invoice query - self-bill SB-2025-04127") == []


# -- round 7 ------------------------------------------------------------------------------------------------------


def test_not_number_3_yet_leaves_out_the_third_item(engine):
    body = (f"Please can you set up the following as Agency Users:\n\n1. Aisha Bello - aisha.bello@{H}\n2. Gethin Morgan - "
            f"gethin.morgan@{H}\n3. Rosalind Achebe - rosalind.achebe@{H}\n\nNot number 3 yet please - she starts next month.")
    assert [r[0] for r in requests(engine, body)] == ["Aisha Bello", "Gethin Morgan"]


def test_nothing_needed_for_her_after_a_colleague_named_without_an_address_leaves_the_requester_alone(engine):
    body = ("We have a new starter, Aleksander Nowak, joining on Monday. Please could you set him up with Agency User access? "
            f"His email is aleksander.nowak@{H}.\n\nPrecious Okonkwo (copied in) will be training him. She has had her own "
            "login for years, so there's nothing needed for her.")
    assert requests(engine, body) == [("Aleksander Nowak", f"aleksander.nowak@{H}", "agency_user")]


def test_the_same_access_as_a_colleague_said_to_be_set_up_already(engine):
    body = (f"Could you please give Ravi Shankar the same access as Helen Morley (helen.morley@{H})? Helen is set up on "
            "NHSP:Online as an Agency User and as an Agency Rate Administrator, and Ravi will be covering her work.\n\n"
            f"Ravi's email is ravi.shankar@{H}")
    assert requests(engine, body) == [("Ravi Shankar", f"ravi.shankar@{H}", "agency_user"),
                                      ("Ravi Shankar", f"ravi.shankar@{H}", "agency_rate_administrator")]


def test_a_first_name_two_people_bear_is_a_doubt(engine):
    body = (f"Chloe Barnes (chloe.barnes@{H}) and Chloe Adeyinka (chloe.adeyinka@{H}) start this week.\n\n"
            "Could you please set Chloe up as an Agency User?")
    assert any("Chloe" in doubt for doubt in doubts(engine, body))


def test_an_access_named_as_where_a_matter_happened_is_not_asked_for(engine):
    body = ("Three timesheets we uploaded on NHSP:Connect last week for Dr Priyanka Anand are showing as rejected but there's "
            "no reason given. Could someone take a look and let us know what we need to do so they can be paid?")
    assert requests(engine, body, subject="Timesheets showing rejected on Connect") == []


def test_a_first_name_and_an_initial_tell_two_namesakes_apart(engine):
    body = (f"Chloe Barnes (chloe.barnes@{H}) and Chloe Adeyinka (chloe.adeyinka@{H}) start this week.\n\n"
            "Could you please set Chloe B up as an Agency User, and give Chloe A Agency Rate Administrator access only?")
    assert requests(engine, body) == [("Chloe Barnes", f"chloe.barnes@{H}", "agency_user"),
                                      ("Chloe Adeyinka", f"chloe.adeyinka@{H}", "agency_rate_administrator")]


# -- round 8 ------------------------------------------------------------------------------------------------------


def test_a_table_column_of_what_people_have_already_is_not_asked_for(engine):
    body = (f"Please could you add what's in the Needs column?\n\nName | Email | Already has | Needs\n"
            f"Sanjay Raman | sanjay.raman@{H} | Agency User | NHSP:Connect\nBronwen Hughes | bronwen.hughes@{H} | Agency User | -\n")
    assert requests(engine, body) == [("Sanjay Raman", f"sanjay.raman@{H}", "nhsp_connect")]


def test_leave_sam_off_for_now_withdraws_sam(engine):
    body = (f"Please can you set up Agency User access for our new resourcers:\n\n- Sam Okoro - sam.okoro@{H}\n"
            f"- Jasmine Reid - jasmine.reid@{H}\n\nActually, leave Sam off for now - his start date has moved.")
    assert requests(engine, body) == [("Jasmine Reid", f"jasmine.reid@{H}", "agency_user")]


def test_first_names_in_prose_give_each_person_listed_below_their_own_access(engine):
    body = ("Three of my team need NHSP access: Amir for the rate cards and self-bill agreements, and Beth and Carl on "
            f"NHSP:Connect so they can upload timesheets.\n\n- Amir Hosseini - amir.hosseini@{H}\n- Beth Carmody - "
            f"beth.carmody@{H}\n- Carl Jennings - carl.jennings@{H}\n")
    assert requests(engine, body) == [("Amir Hosseini", f"amir.hosseini@{H}", "agency_rate_administrator"),
                                      ("Beth Carmody", f"beth.carmody@{H}", "nhsp_connect"),
                                      ("Carl Jennings", f"carl.jennings@{H}", "nhsp_connect")]


def test_a_possessive_first_name_does_not_take_the_access_of_the_sentence(engine):
    body = (f"Wiktoria Lis (wiktoria.lis@{H}) is taking over our rate cards, so please give her Agency Rate Administrator "
            f"access. Hana Novak will take over Wiktoria's old role and needs Agency User (hana.novak@{H}).")
    assert requests(engine, body) == [("Wiktoria Lis", f"wiktoria.lis@{H}", "agency_rate_administrator"),
                                      ("Hana Novak", f"hana.novak@{H}", "agency_user")]


def test_a_word_before_a_colon_and_a_date_is_a_label_not_a_name(engine):
    assert "Submitted" not in [m.name for n in notes(engine, "Form: NHSP access request Submitted: 19/05/2025 15:22")
                               for m in n.names]


# -- round 9 ------------------------------------------------------------------------------------------------------


def test_i_also_need_247_time_asks_for_the_author(engine):
    body = ("Two things, sorry:\n\n- I've been locked out of NHSP:Online - how do I reset my password?\n"
            "- I also need access to 247 Time for the Kent trusts. Can you set that up?\n")
    assert sorted(r[2] for r in requests(engine, body)) == ["247_time", "password_help"]
