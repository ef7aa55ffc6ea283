"""What the desk may say after a redirect: a fixed sentence for each code a link can carry, never text from the link."""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.web.accounts import REFUSED


@dataclass(frozen=True)
class Notice:
    kind: str  # "ok" or "error"
    text: str


NOTICES = {
    "refused": Notice("error", REFUSED),
    "decided": Notice("ok", "The decision is recorded."),
    "decided_reply": Notice("ok", "The decision is recorded; its reply is in the outbox."),
    "decided_already": Notice("error", "Another reviewer decided this message first. Nothing was changed."),
    "form_damaged": Notice("error", "The form was damaged. Nothing was changed; reload the page."),
    "unknown_action": Notice("error", "That is not one of the decisions offered. Nothing was changed."),
    "imported": Notice("ok", "The directory was imported; what changed is listed under Last import."),
    "saved": Notice("ok", "Saved."),
    "nothing_changed": Notice("ok", "Nothing to save: the entry was already so."),
    "no_such_person": Notice("error", "There is no such person in the directory."),
    "unknown_seniority": Notice("error", "Choose one of the seniorities offered."),
    "marked_done": Notice("ok", "Marked done."),
    "done_already": Notice("error", "It was marked done already, or its address bounced: check the address first."),
    "address_checked": Notice("ok", "The address is checked; the login can be created."),
    "person_added": Notice("ok", "Added to the directory. The rules were run again with the new entry."),
    "person_removed": Notice("ok", "Removed from the directory."),
    "organisation_added": Notice("ok", "The organisation was added."),
    "organisation_removed": Notice("ok", "The organisation was removed."),
    "reopened": Notice("ok", "The message is open again; nothing was sent."),
    "reopen_refused": Notice("error", "It cannot be reopened: its reply has been sent already, or it is open."),
    "undone": Notice("ok", "Back on the worklist."),
}


def decided(message_id: int, outcome: str, reply_waiting: bool) -> Notice:
    """The notice after a decision, from what the database says of that message (the link gives only its number)."""
    return Notice("ok", f"Message {message_id} is decided: {outcome.replace('_', ' ')}"
                        + ("; its reply is in the outbox." if reply_waiting else "."))


def notice(code: str | None) -> Notice | None:
    """The notice for a code from a link; None for anything else, whatever the link says."""
    return NOTICES.get(code or "")
