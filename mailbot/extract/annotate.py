"""Reads each unit once into frozen spans: its addresses, the names in it, the accesses it mentions, its cues."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.extract.access import AccessFinder, AccessMention, How
from mailbot.extract.lexicon import Lexicon
from mailbot.extract.names import HONORIFICS, PARTICLES, clean_name, fold, is_person_name, spelling
from mailbot.extract.rules import Cue, CueSet, ReadingRules
from mailbot.extract.topics import TopicFinder
from mailbot.extract.units import Unit, emails_in, label_spans, other_fields

_TOKEN = re.compile(r"[^\W\d_][^\W\d_'’\-]*+(?:['’\-][^\W\d_]++)*+\.?")
_EMAILISH = re.compile(r"(?<!\S)[^\s@]++@\S++|(?:https?://|www\.)\S++")
_SURNAME_FIRST_END = re.compile(r"^\s*+(?:$|[-–—:|(<\t;]|\S+@)")
_NUMBER_REFERENCE = re.compile(r"\b(?:number|no\.?|item|#)\s*(\d{1,2})\b", re.I)
_UPPER_TLD = re.compile(r"\.([A-Z][a-z]++)$")  # ".Best": a capitalised word, not an upper-case domain
_LOWER_WORD = re.compile(r"[^\W\d_][^\W\d_'’\-]*+(?:[-'’][^\W\d_]++)*+")  # "jo-ann", "o'neill": one word
_LOCAL_PIECE = re.compile(r"[._\-+]")
_PUNCTUATION_NEXT = re.compile(r"\s*+[,.;:!?(]")
_DOMAIN_SUFFIXES = frozenset("com org net uk co gov nhs ac edu info biz io me scot wales cymru ie eu".split())


@dataclass(frozen=True, slots=True)
class AddressMention:
    start: int
    end: int
    email: str

    @property
    def local(self) -> str:
        return self.email.split("@", 1)[0]


@dataclass(frozen=True, slots=True)
class NameMention:
    """A run of words that may be a person's name, and what the words themselves say about that."""

    start: int
    end: int
    name: str  # tidied: honorifics off, "Surname, First" turned round
    words: int
    given: bool  # starts with a known given name (or a short form of one)
    not_name_words: int  # words that are not names on their own (sentence openers, access words, months...)
    role: bool  # holds a job title or team word (Branch Manager, Finance Team)
    organisation: bool  # named like an organisation of the directory
    place: bool  # a place, and nothing else
    honorific: bool  # Mr / Mrs / Dr before it: surely a person
    capitalised: bool  # as people write names (a lower-case run is a name only where an address spells it)


@dataclass(frozen=True)
class Note:
    """One unit, read."""

    index: int
    unit: Unit
    addresses: tuple[AddressMention, ...]
    names: tuple[NameMention, ...]
    accesses: tuple[AccessMention, ...]
    cues: CueSet  # read lazily: `cue in note.cues`
    topics: tuple[str, ...]
    password: bool  # asks for password help
    item_number: int | None  # "2." at the start of a list item
    number_references: tuple[int, ...]  # "please ignore number 2"
    context_spans: tuple[tuple[int, int], ...] = ()  # form fields about someone else ("Submitted by: ...")
    held_spans: tuple[tuple[int, int], ...] = ()  # a table's cells under "Already has", "Current access"

    def in_context(self, position: int) -> bool:
        return any(start <= position < end for start, end in self.context_spans)

    @property
    def text(self) -> str:
        return self.unit.text

    def has(self, cue: Cue) -> bool:
        return cue in self.cues

    def requested_accesses(self) -> tuple[AccessMention, ...]:
        """The accesses this unit asks for: not negated, and purposes only where access is asked or a capability
        is described (a purpose word elsewhere, "our rate cards are wrong", is a matter of its own)."""
        purposeful = self.has(Cue.CAPABILITY) or self.has(Cue.ASK) or self.unit.kind in ("item", "record")
        return tuple(m for m in self.accesses if not m.negated and (m.how != How.PURPOSE or purposeful) and not self.held(m.start))

    def held(self, position: int) -> bool:
        """Is this position in a cell that says what its person has already?"""
        return any(start <= position < end for start, end in self.held_spans)


class Annotator:
    """Reads units by one set of rules, one lexicon, one policy's access phrases and topics."""

    def __init__(self, rules: ReadingRules, lexicon: Lexicon, access: AccessFinder, topics: TopicFinder):
        self.rules = rules
        self.lexicon = lexicon
        self.access = access
        self.topics = topics

    def note(self, index: int, unit: Unit) -> Note:
        text = unit.text
        cues = self.rules.present(text)
        found = tuple(addresses(text))
        return Note(
            index=index, unit=unit, addresses=found, names=tuple(self.names(unit, found)),
            accesses=tuple(self.access.find(text)), cues=cues, topics=tuple(self.topics.raised(text)),
            password=self.topics.asks_password_help(cues) if unit.kind != "subject" else False,
            item_number=unit.number, number_references=tuple(int(m.group(1)) for m in _NUMBER_REFERENCE.finditer(text)),
            context_spans=self._context_spans(text) + self._context_cells(unit, "context_field", ":") + other_fields(unit),
            held_spans=self._context_cells(unit, "held_column", ""),
        )

    def _context_spans(self, text: str) -> tuple[tuple[int, int], ...]:
        """The lines of a form that are about someone else than the person asked for."""
        spans, start = [], 0
        field = self.rules.context["context_field"]
        for line in text.split("\n"):
            if field.match(line):
                spans.append((start, start + len(line)))
            start += len(line) + 1
        return tuple(spans)

    def _context_cells(self, unit: Unit, pattern: str, after_label: str) -> tuple[tuple[int, int], ...]:
        """The cells of a table row under a column the pattern names: about someone else ("Reports to", "Line
        manager": context_field), or what its person has already ("Already has": held_column)."""
        if not unit.cells or not unit.labels:
            return ()
        field = self.rules.context[pattern]
        spans, at = [], 0
        for cell, label in zip(unit.cells, unit.labels):
            start = unit.text.find(cell, at) if cell else -1
            if start < 0:
                continue
            at = start + len(cell)
            if field.match(f"{label}{after_label}"):
                spans.append((start, at))
        return tuple(spans)

    # -- names -------------------------------------------------------------------------------------------------

    def names(self, unit: Unit, found_addresses: tuple[AddressMention, ...] | None = None) -> list[NameMention]:
        """Every run of words in the unit that may name a person, with what its words say."""
        text = unit.text
        mentioned = tuple(addresses(text)) if found_addresses is None else found_addresses
        masked = _EMAILISH.sub(_blank, text) if "@" in text or "http" in text or "www." in text else text
        plain = masked
        if unit.kind == "record":
            for start, end in label_spans(unit):  # "First Name:", "Job Title:": a form's words, never a name
                masked = masked[:start] + " " * (end - start) + masked[end:]
        runs = [part for run in _runs(masked) for part in self._split(run)]
        found = [self._mention(text, run) for run in runs]
        found = self._surname_first(text, [m for m in found if m is not None])
        if mentioned:
            found.extend(self._spelled_before_addresses(text, found, mentioned))
        found.extend(self._lower_case_names(text, plain, found, mentioned))
        return sorted(found, key=lambda m: m.start)

    def _lower_case_names(self, text: str, masked: str, found: list[NameMention],
                          mentioned: tuple[AddressMention, ...]) -> list[NameMention]:
        """A name written in lower case ("can u set ruairí ó súilleabháin up"): a word that is an address's first
        name, and the words after it that may be a surname (none a word that is not a name)."""
        extra = []
        locals_ = [a.local for a in mentioned if not self.lexicon.is_role_mailbox(a.local)]
        # "jo-ann.mcintyre@": the first name is "jo-ann" (or "jo"); "priya.s@": "priya"
        firsts = {fold(_LOCAL_PIECE.split(local)[0]) for local in locals_} | {fold(local.split(".")[0]) for local in locals_}
        firsts = {f for f in firsts if len(f) >= 3}
        tokens = list(_LOWER_WORD.finditer(masked))
        before_target = self.rules.context["before_target"]
        for index, token in enumerate(tokens):
            word = token.group()
            if not word.islower():
                continue
            folded = fold(word)
            if folded not in firsts:
                # "a login for marcus asap": a known given name in lower case right where a person is asked for
                if len(word) < 4 or not self.lexicon.is_given_name(word) or self.lexicon.is_not_name(word) or self.lexicon.is_role_word(word):
                    continue
                if any(m.start <= token.start() < m.end for m in found):
                    continue
                following = tokens[index + 1].group() if index + 1 < len(tokens) else ""
                ends = not following or self.lexicon.is_not_name(following) or bool(_PUNCTUATION_NEXT.match(text, token.end()))
                if ends and before_target.search(text[max(0, token.start() - 60): token.start()]):
                    extra.append(NameMention(token.start(), token.end(), word, 1, True, 0, False, False, False, False, False))
                continue
            if any(m.start <= token.start() < m.end for m in found):
                continue
            chosen = [token]
            for following in tokens[index + 1: index + 4]:
                gap = masked[chosen[-1].end(): following.start()]
                follower = following.group()
                if gap != " " or not follower.islower() or self.lexicon.is_not_name(follower) or self.lexicon.is_role_word(follower):
                    break
                chosen.append(following)
            if len(chosen) == 1 and not (self.lexicon.is_given_name(word) and not self.lexicon.is_not_name(word)):
                continue  # a word alone in lower case is a name only where it is a given name the address spells ("priya.s@")
            while chosen and chosen[-1].group().lower() in PARTICLES:
                chosen.pop()
            start, end = chosen[0].start(), chosen[-1].end()
            if not is_person_name(text[start:end]):
                continue
            extra.append(NameMention(start, end, text[start:end], len(chosen), self.lexicon.is_given_name(word), 0, False, False,
                                     False, False, False))
        return extra

    def _split(self, run: list[re.Match]) -> list[list[re.Match]]:
        """A run cut where a word cannot be part of a person's name: "BANK STAFF COORDINATOR Olu Bankole" holds
        "Olu Bankole"; "Sunita Varma Resourcer" holds "Sunita Varma". (Leading given names that are words stay.)"""
        parts: list[list[re.Match]] = [[]]
        for match in run:
            word = match.group()
            initial = len(word) == 1 and word.isupper() and len(parts[-1]) == 1 and self.lexicon.is_given_name(parts[-1][0].group())
            breaks = self.lexicon.is_role_word(word) or (self.lexicon.is_not_name(word) and not self.lexicon.is_given_name(word)
                                                         and word.rstrip(".").lower() not in HONORIFICS and not initial)
            if breaks:
                parts.append([match])  # kept, alone: _mention trims what is not a name
                parts.append([])
            else:
                parts[-1].append(match)
        return [part for part in parts if part]

    def _mention(self, text: str, run: list[re.Match]) -> NameMention | None:
        lexicon = self.lexicon
        words = [m.group() for m in run]
        # Leading and trailing words that cannot be a name: "Hi Jane", "Thanks Jane", "Jane Doe Thanks"
        while run and lexicon.is_not_name(words[0]) and not lexicon.is_given_name(words[0]) and words[0].rstrip(".").lower() not in HONORIFICS:
            run, words = run[1:], words[1:]
        while run and (lexicon.is_not_name(words[-1]) and not lexicon.is_given_name(words[-1]) or words[-1].lower() in PARTICLES):
            if len(words) == 2 and len(words[1]) == 1 and words[1].isupper() and lexicon.is_given_name(words[0]):
                break  # "give Chloe A ARA": an initial, not the article
            run, words = run[:-1], words[:-1]
        if not run:
            return None
        honorific = words[0].rstrip(".").lower() in HONORIFICS
        bare = [w for w in words if w.rstrip(".").lower() not in HONORIFICS]
        if not bare or len(bare) > 5:
            return None
        if len(bare) == 1 and bare[0].isupper() and 1 < len(bare[0]) <= 4 and not lexicon.is_given_name(bare[0]) and not honorific:
            return None  # "DBS", "TBC", "CSV": an acronym, not a name
        start, end = run[0].start(), run[-1].end()
        following = text[end: end + 4].lstrip(" ")[:1]
        if ((start and text[start - 1] in "=+-@") or text[end: end + 1].isdigit() or text[end: end + 1] in ("@", "＠", "﹫")
                or (text[end: end + 1] == ":" and text[end + 1: end + 3].strip()[:1].isdigit())  # "Submitted: 19/05/2025": a label
                or (following and not following.isascii() and (following.isnumeric() or following in "＠﹫"))):
            return None  # "-Jane Doe", "@Jane", "Doe2", "Jane Doe ①②③": text that runs into what no name holds is not a name
        name = clean_name(text[start:end])
        if not name:
            return None
        first = next((w for w in bare if w.lower() not in PARTICLES), bare[0])
        return NameMention(
            start=start, end=end, name=name, words=len(bare), given=lexicon.is_given_name(first),
            not_name_words=sum(1 for w in bare if lexicon.is_not_name(w) and not lexicon.is_given_name(w)),
            role=any(lexicon.is_role_word(w) for w in bare), organisation=lexicon.is_organisation(name),
            place=lexicon.is_place(name) or all(lexicon.is_place(w) for w in bare), honorific=honorific,
            capitalised=all(w[:1].isupper() or w.lower() in PARTICLES for w in bare),
        )

    def _surname_first(self, text: str, found: list[NameMention]) -> list[NameMention]:
        """"Okonkwo, Chidi -" and "Hart, Lily <lily.hart@..>" are one name, turned round."""
        joined: list[NameMention] = []
        index = 0
        while index < len(found):
            here = found[index]
            after = found[index + 1] if index + 1 < len(found) else None
            surname_words = len([w for w in here.name.split() if w.lower() not in PARTICLES])
            if (after is not None and text[here.end:after.start].strip() == "," and after.words == 1 and surname_words <= 2
                    and _SURNAME_FIRST_END.match(text[after.end:])):
                name = f"{after.name} {here.name}"
                joined.append(NameMention(here.start, after.end, name, here.words + 1, self.lexicon.is_given_name(after.name),
                                          here.not_name_words + after.not_name_words, here.role or after.role, False, False,
                                          here.honorific, here.capitalised and after.capitalised))
                index += 2
                continue
            joined.append(here)
            index += 1
        return joined

    def _spelled_before_addresses(self, text: str, found: list[NameMention], mentioned: tuple[AddressMention, ...]) -> list[NameMention]:
        """Words right before an address that spell it, whatever their case: 'for kayode bello kayode.bello@'."""
        extra = []
        for address in mentioned:
            if self.lexicon.is_role_mailbox(address.local):
                continue  # "the compliance inbox compliance@": a team's mailbox spells a team
            before = text[max(0, address.start - 80): address.start]
            words = list(re.finditer(r"[^\W\d_][\w'’-]*", before))
            gap = before[words[-1].end():] if words else ""
            if not words or len(gap) > 3 or gap.strip(" (<:-–") != "":
                continue
            for count in (3, 2):
                chosen = words[-count:]
                if len(chosen) < count:
                    continue
                candidate = " ".join(w.group() for w in chosen)
                first = fold(chosen[0].group())
                if not is_person_name(candidate):
                    continue
                if any(self.lexicon.is_not_name(w.group()) and not self.lexicon.is_given_name(w.group()) for w in chosen):
                    continue  # "Megan Lott Email": a label is no part of a name
                if spelling(candidate, address.email, self.lexicon.forms_of) >= 1 and address.local.lower().split(".")[0].startswith(first[:3]) and len(first) >= 2:
                    start = address.start - len(before) + chosen[0].start()
                    end = address.start - len(before) + chosen[-1].end()
                    if not any(m.start <= start and end <= m.end for m in found):
                        extra.append(NameMention(start, end, candidate, count, self.lexicon.is_given_name(chosen[0].group()), 0,
                                                 False, False, False, False, False))
                    break
        return extra


def _runs(masked: str) -> list[list[re.Match]]:
    """Runs of capitalised words (honorifics and name particles may sit inside, or lead: "van der Berg"), a space
    or so apart."""
    runs: list[list[re.Match]] = []
    run: list[re.Match] = []
    leading: list[re.Match] = []  # particles that may start the next run
    previous_end = None
    for match in _TOKEN.finditer(masked):
        token = match.group()
        gap = masked[previous_end: match.start()] if previous_end is not None else ""
        joinable = previous_end is not None and len(gap) <= 3 and gap.strip(" ") == ""  # a tab or a line end ends a name
        if (run or leading) and not joinable:
            if run:
                runs.append(run)
            run, leading = [], []
        capitalised = token[:1].isupper()
        if run and re.search(r"['’]s$", run[-1].group()):
            runs.append(run)  # "Bronwen Tudor's DBS": a possessive ends the name
            run = []
        if not run and not capitalised and token.lower() in PARTICLES:
            leading.append(match)
        elif capitalised:
            if not run and leading:
                run, leading = list(leading), []
            run.append(match)
            if token.endswith(".") and len(token) > 2 and token.rstrip(".").lower() not in HONORIFICS:
                runs.append(run)  # "... Smith." ends a sentence
                run = []
        elif run and token.lower() in PARTICLES:
            run.append(match)
        elif run:
            runs.append(run)
            run = []
        else:
            leading = []
        previous_end = match.end()
    if run:
        runs.append(run)
    return runs


def _blank(match: re.Match) -> str:
    return " " * len(match.group())


def addresses(text: str) -> list[AddressMention]:
    """The addresses in a text, each as written (an upper-case word run on after the domain, "locums.com.Best",
    is the next sentence, not part of it)."""
    found = []
    for start, email in emails_in(text):
        cut = _UPPER_TLD.search(email)
        if cut and email[: cut.start()].rsplit(".", 1)[-1].lower() in _DOMAIN_SUFFIXES:
            email = email[: cut.start()]
        found.append(AddressMention(start, start + len(email), email))
    return found
