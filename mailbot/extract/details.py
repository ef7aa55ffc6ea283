"""What a follow-up's own text gives, asked for or not: addresses, full names, accesses (to complete what was asked)."""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.extract.access import How, resolve
from mailbot.extract.annotate import Note
from mailbot.extract.candidates import Evidence
from mailbot.extract.lexicon import Lexicon
from mailbot.extract.rules import Cue
from mailbot.parse.message import Address
from mailbot.policy import Policy


@dataclass(frozen=True)
class Details:
    """Addresses (with the name written beside each, if any), full names and accesses a text gives, and whether it
    asks for anything ("Her email is jane.doe@..." gives an address and asks nothing)."""

    addresses: tuple[tuple[str | None, str], ...] = ()
    names: tuple[str, ...] = ()
    accesses: tuple[str, ...] = ()
    asks: bool = False


def read_details(notes: list[Note], evidence: Evidence, lexicon: Lexicon, policy: Policy, sender: Address | None,
                 own_domains: frozenset[str]) -> Details:
    """The details of the sender's own new text (not the subject, not what it quotes or forwards)."""
    own = [n for n in notes if n.unit.source == 1]
    addresses: dict[str, str | None] = {}
    for note in own:
        for address in note.addresses:
            email = address.email
            domain = email.lower().rsplit("@", 1)[-1]
            if (sender is not None and email.lower() == sender.key) or domain in own_domains or lexicon.is_role_mailbox(address.local):
                continue
            nearby = [m.name for m in note.names if m.words >= 2 and abs(m.end - address.start) <= 3]
            addresses.setdefault(email, nearby[0] if nearby else None)
    names = [m.name for n in own for m in n.names
             if m.words >= 2 and not m.organisation and not m.role and not m.place and not evidence.is_author(m.name)]
    mentions = [m for n in own for m in n.accesses if not m.negated and (m.how != How.PURPOSE or n.has(Cue.CAPABILITY))]
    asks = any(n.has(Cue.DIRECT_ASK) for n in own)
    return Details(tuple((name, email) for email, name in addresses.items()), tuple(dict.fromkeys(names)),
                   tuple(resolve(mentions, policy)), asks)
