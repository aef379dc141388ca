"""One line in the user's own words, read into a contact's parts (`tracker log`).

"called amex, spoke to Jen (id 4471), ref ABC-12345, credit in 7-10 business days, call
back if nothing by the 15th" is a phone call out to American Express with agent Jen, agent
id 4471, reference ABC-12345, a company promise "credit" due in 7-10 business days and a
follow-up on the 15th.

The words are data (tracker/quicklog_en.toml): this module knows the shape of a line (cut
into clauses; a clause holds a channel and an organization, an agent, reference numbers, a
duration, a follow-up or a promise), never a word of it. Times are read by tracker.when's
grammar, never here. What it cannot read for sure it refuses (UsageError naming the part):
a time it cannot read, a second organization, a promise without a time. Words it does not
know are no part; the whole line is kept as the contact's summary anyway.

Pure: no database. The caller passes the organizations' names and picks the case.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from tracker.errors import UsageError
from tracker.vocabulary import CHANNEL
from tracker.when import Calendar, WhenError, Window, parse_duration, parse_window

LANGUAGES = ("en",)


# --------------------------------------------------------------------------- the words


def _phrases(words: Iterable[str]) -> re.Pattern[str]:
    """Any of `words` as whole words, longest first, case-insensitive, spaces loose."""
    ordered = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in ordered)
    return re.compile(rf"(?<![\w'])(?:{body})(?![\w'])", re.IGNORECASE)


@dataclass(frozen=True)
class Words:
    """One language's words, compiled."""

    channels: tuple[tuple[re.Pattern[str], str], ...]
    incoming_after: tuple[tuple[re.Pattern[str], str], ...]
    incoming_from: tuple[tuple[re.Pattern[str], str], ...]
    agent: re.Pattern[str]
    not_names: frozenset[str]
    roles: re.Pattern[str]
    name_ends: frozenset[str]
    agent_id: re.Pattern[str]
    references: tuple[tuple[re.Pattern[str], str], ...]
    fillers: frozenset[str]
    company: re.Pattern[str]
    said: re.Pattern[str]
    me: re.Pattern[str]
    empty: frozenset[str]
    cues: frozenset[str]
    strong: frozenset[str]
    past: frozenset[str]
    not_times: frozenset[str]
    expiry: tuple[tuple[str, ...], ...]  # words after which an expiry date comes
    cue_as: dict[str, str]
    time_words: frozenset[str]
    follow_up: re.Pattern[str]
    duration_before: re.Pattern[str]
    duration_after: re.Pattern[str]
    aliases: dict[str, str]
    labels: dict[str, str]
    joiners: re.Pattern[str]
    subjects: re.Pattern[str]
    articles: re.Pattern[str]
    time_links: frozenset[str]
    more_refs: re.Pattern[str]
    minor: frozenset[str]
    starters: re.Pattern[str] = field(repr=False)


@cache
def words(language: str = "en") -> Words:
    if language not in LANGUAGES:
        raise UsageError(f"no words for language '{language}'; known: {', '.join(LANGUAGES)}")
    text = resources.files("tracker").joinpath(f"quicklog_{language}.toml").read_text("utf-8")
    raw: dict[str, Any] = tomllib.loads(text)
    every: list[str] = []

    def compiled(items: list[str]) -> re.Pattern[str]:
        every.extend(items)
        return _phrases(items)

    agent_id_words = raw["agent"]["id_words"]
    id_pattern = re.compile(
        r"\(?\s*(?:" + _phrases(agent_id_words).pattern + r")\s*(?:#|:|no\.?|number)?\s*"
        r"(?P<id>[A-Za-z0-9][\w\-]*)\s*\)?",
        re.IGNORECASE,
    )
    return Words(
        channels=tuple((compiled(c["words"]), c["channel"]) for c in raw["channel"]),
        incoming_after=tuple((_phrases(c["after"]), c["channel"]) for c in raw["incoming"]),
        incoming_from=tuple((compiled(c["from"]), c["channel"]) for c in raw["incoming"]),
        agent=compiled(raw["agent"]["words"]),
        not_names=frozenset(w.lower() for w in raw["agent"]["not_names"]),
        roles=re.compile(
            r"(?:(?:" + _phrases(raw["agent"]["roles"]).pattern + r")\s*)+", re.IGNORECASE
        ),
        name_ends=frozenset(w.lower() for w in raw["agent"]["name_ends"]),
        agent_id=id_pattern,
        references=tuple((compiled(r["words"]), r["kind"]) for r in raw["reference"]),
        fillers=frozenset(w.lower() for w in raw["reference_fillers"]["words"]),
        company=compiled(raw["promise"]["company"]),
        said=compiled(raw["promise"]["said"]),
        me=compiled(raw["promise"]["me"]),
        empty=frozenset(w.lower() for w in raw["promise"]["empty"]),
        cues=frozenset(w.lower() for w in raw["time"]["cues"]),
        strong=frozenset(w.lower() for w in raw["time"]["strong"]),
        past=frozenset(w.lower() for w in raw["time"]["past"]),
        not_times=frozenset(w.lower() for w in raw["time"]["not_times"]),
        expiry=tuple(tuple(w.lower().split()) for w in raw["time"]["expiry"]),
        cue_as={k.lower(): v for k, v in raw["time"]["as"].items()},
        time_words=frozenset(w.lower() for w in raw["time"]["words"]["words"]),
        follow_up=compiled(raw["follow_up"]["words"]),
        duration_before=_phrases(raw["duration"]["before"]),
        duration_after=_phrases(raw["duration"]["after"]),
        aliases={" ".join(k.lower().split()): v for k, v in raw["aliases"].items()},
        labels=dict(raw["labels"]),
        starters=_phrases([*every, *raw["clauses"]["subjects"]]),
        joiners=re.compile(
            r"\s+(?:" + _phrases(raw["clauses"]["joiners"]).pattern + r")\s+", re.IGNORECASE
        ),
        subjects=re.compile(
            r"^(?:" + _phrases(raw["clauses"]["subjects"]).pattern + r")\s+", re.IGNORECASE
        ),
        articles=re.compile(
            r"^(?:" + _phrases(raw["clauses"]["articles"]).pattern + r")\s+", re.IGNORECASE
        ),
        time_links=frozenset(w.lower() for w in raw["clauses"]["time_links"]),
        more_refs=re.compile(
            r"\s*(?:"
            + "|".join(re.escape(m) for m in raw["clauses"]["more"])
            + r")\s+#?(?P<ref>[A-Za-z0-9][\w\-/.#]*)",
            re.IGNORECASE,
        ),
        minor=frozenset(w.lower() for w in raw["clauses"]["minor_words"]),
    )


# --------------------------------------------------------------------------- what it read


@dataclass
class PromisePart:
    text: str
    promised_by: str  # company or me
    when: str  # as the grammar reads it ("in 7-10 business days")


@dataclass
class FollowUpPart:
    text: str
    when: str


@dataclass
class Understood:
    """The parts of one line; `summary` is the line itself (masked by the caller)."""

    summary: str
    channel: str | None = None
    direction: str = "out"
    organization: str | None = None  # the directory's name
    agent: str | None = None
    agent_id: str | None = None
    references: list[tuple[str, str]] = field(default_factory=list)  # (value, kind)
    promises: list[PromisePart] = field(default_factory=list)
    follow_up: FollowUpPart | None = None
    duration: timedelta | None = None
    at: str | None = None  # when the contact was, as said in its clause ("yesterday 3pm")
    last_was_reference: bool = field(default=False, repr=False)

    def fields(self) -> dict[str, Any]:
        """Every part, as plain values (the corpus compares these)."""
        return {
            "channel": self.channel,
            "direction": self.direction,
            "organization": self.organization,
            "agent": self.agent,
            "agent_id": self.agent_id,
            "references": [list(r) for r in self.references],
            "promises": [[p.text, p.promised_by, p.when] for p in self.promises],
            "follow_up": [self.follow_up.text, self.follow_up.when] if self.follow_up else None,
            "duration": int(self.duration.total_seconds()) if self.duration else None,
            "at": self.at,
        }


# --------------------------------------------------------------------------- reading


# A reference number: a word with a digit ("#" before it is no part of it); digits in
# groups of four after it are kept with it, so that a card number typed as a reference is
# seen whole (and refused) rather than cut.
_REF = re.compile(r"#?(?P<ref>[A-Za-z0-9][\w\-/.#]*(?:[ ]\d{4}(?=$|[\s,;)]))*)")
_DURATION = re.compile(
    r"(?<![\w.])(?P<d>\d+(?:\.\d+)?\s*(?:h|hr|hrs|hours?|m|min|mins|minutes?|s|secs?|seconds?)"
    r"(?:\s*\d+\s*(?:m|min|mins|minutes?))?)(?![\w])",
    re.IGNORECASE,
)


def understand(
    text: str,
    organizations: Sequence[str],
    *,
    language: str = "en",
    check_time: Any = None,
) -> Understood:
    """The parts of `text`. `organizations`: the directory's names, to find the one meant.

    `check_time(when_text)` raises WhenError for a time the grammar cannot read (default:
    tracker.when read from now, on plain weekdays); the caller resolves the times on the
    case's calendar once it knows the case.
    """
    w = words(language)
    line = " ".join(text.split())
    if not line:
        raise UsageError("the line is empty; say what happened, e.g. 'called amex, ref ABC-1'")
    found = Understood(summary=line)
    check = check_time or (lambda when: parse_window(when))
    orgs = _organization_patterns(organizations, w)
    named = _organizations_named(line, orgs)
    if len(named) > 1:
        raise UsageError(
            "the line names more than one organization ("
            + " and ".join(sorted(named))
            + "); give the case with --case N"
        )
    found.organization = next(iter(named), None)
    for clause in _clauses(line, w):
        _read_clause(clause, found, w, orgs, check)
    # "ref" names no kind: a contact on that channel gives its kind (a call's reference).
    given = CHANNEL[found.channel].reference_kind if found.channel else "other"
    found.references = [(v, given if k == "contact" else k) for v, k in found.references]
    return found


def _organization_patterns(names: Sequence[str], w: Words) -> list[tuple[re.Pattern[str], str]]:
    """Each way of naming each organization: its name, an alias, its initials (3+ words)."""
    spellings: dict[str, str] = {}
    for name in names:
        key = " ".join(name.lower().split())
        spellings.setdefault(key, name)
        significant = [p for p in re.split(r"[\s.,-]+", key) if p and p not in w.minor]
        if len(significant) >= 3:
            spellings.setdefault("".join(p[0] for p in significant), name)
    known = {" ".join(n.lower().split()): n for n in names}
    for alias, target in w.aliases.items():
        target_name = known.get(" ".join(target.lower().split()))
        if target_name is not None:
            spellings.setdefault(alias, target_name)
    return [
        (_phrases([spelling]), name)
        for spelling, name in sorted(spellings.items(), key=lambda kv: -len(kv[0]))
    ]


def _organizations_named(line: str, orgs: list[tuple[re.Pattern[str], str]]) -> set[str]:
    named: set[str] = set()
    rest = line
    for pattern, name in orgs:  # longest first: "American Express Card" before "amex"
        if pattern.search(rest):
            named.add(name)
            rest = pattern.sub(" ", rest)
    return named


def _clauses(line: str, w: Words) -> list[str]:
    """The line cut at , ; and sentence ends outside brackets, and at "and"/"then" before
    a clause's first words ("called amex and spoke to Jen")."""
    parts: list[str] = []
    depth = 0
    current = ""
    for i, char in enumerate(line):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        # "Ref 99812. Credit in 2 weeks" ends a sentence; "case no. 55" does not.
        end_sentence = char == "." and (
            i + 1 == len(line) or (line[i + 1] == " " and not line[i + 2 : i + 3].isdigit())
        )
        if depth == 0 and (char in ",;" or end_sentence):
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    clauses: list[str] = []
    for part in parts:
        pieces = w.joiners.split(part.strip())
        merged: list[str] = []
        for piece in pieces:
            if merged and not w.starters.match(piece):
                merged[-1] += " and " + piece
            else:
                merged.append(piece)
        clauses += [p.strip() for p in merged if p.strip()]
    return clauses


def _read_clause(
    clause: str,
    found: Understood,
    w: Words,
    orgs: list[tuple[re.Pattern[str], str]],
    check: Any,
) -> None:
    had_channel = found.channel
    rest = _channel(clause, found, w, orgs)
    contact_clause = found.channel is not None and had_channel is None
    if contact_clause:
        rest = _contact_time(rest, found, w, check)
    refs_before = len(found.references)
    rest = _references(rest, found, w)
    lone = _REF.fullmatch(rest.strip())
    if lone is not None and found.last_was_reference and _looks_like_reference(lone["ref"]):
        found.references.append((lone["ref"].rstrip("."), found.references[-1][1]))
        return  # "refs ABC-1, XYZ-2": the second one, after the comma
    found.last_was_reference = len(found.references) > refs_before
    rest = _agent_id(rest, found, w)
    rest = _agent(rest, found, w)
    rest = _duration(rest, found, w)
    rest = rest.strip(" .-—:")
    if not rest:
        return
    follow = w.follow_up.search(rest)
    if follow is not None and follow.start() == _start_after_subject(rest, w):
        rest = rest[follow.start() :]
        before, when = _time_in(rest, w, check, what=f"the follow-up '{rest}'")
        if when is None:
            raise UsageError(
                f"the follow-up '{rest}' has no time; say when, e.g. 'call back if nothing "
                "by the 15th'"
            )
        if found.follow_up is not None:
            raise UsageError(f"a second follow-up ('{rest}'); give one per line")
        found.follow_up = FollowUpPart(text=before or follow.group(0), when=when)
        return
    promise_verb = _promiser(rest, w)
    strict = promise_verb is not None
    if contact_clause and not strict:
        return  # "called amex 2 hours on hold": the contact's own words, no promise
    before, when = _time_in(rest, w, check, what=f"'{rest}'")
    if when is None:
        if strict:
            raise UsageError(
                f"the promise '{rest}' has no time; say when, e.g. '{rest} by Friday' "
                "(or leave it out: the whole line is kept as the summary)"
            )
        return  # words it does not know: in the summary only
    if any(word in w.past for word in when.lower().split()):
        return  # "refund 3 days ago": what happened, not a promise (the summary has it)
    by, what = _promise_text(before, found, w, orgs)
    if not what or what.lower() in w.empty:
        raise UsageError(f"what is promised '{when}'? say it, e.g. 'credit {when}'")
    found.promises.append(PromisePart(text=what, promised_by=by, when=when))


def _looks_like_reference(token: str) -> bool:
    """A word that can only be a reference: digits with letters or dashes ("XYZ-2")."""
    return any(c.isdigit() for c in token) and any(c.isalpha() or c == "-" for c in token)


def _contact_time(rest: str, found: Understood, w: Words, check: Any) -> str:
    """A time said with the contact ("called amex yesterday 3pm"): when it happened."""
    before, when = _time_in(rest, w, check, what=f"the time of the contact '{rest}'")
    if when is None:
        return rest
    if before.strip() and before.strip().lower() not in w.time_links:
        return rest  # "called amex about the refund by friday": not the contact's time
    found.at = when
    return ""


def _start_after_subject(text: str, w: Words) -> int:
    """Where a clause's own words begin, after "I" or "I will" ("I'll call back if ...")."""
    m = w.me.match(text) or w.subjects.match(text)
    return len(text) - len(text[m.end() :].lstrip()) if m else 0


def _channel(
    clause: str, found: Understood, w: Words, orgs: list[tuple[re.Pattern[str], str]]
) -> str:
    """The contact itself: "called amex", "chatted with Amex", "amex called me"."""
    body = w.subjects.sub("", clause, count=1)
    for pattern, channel in w.incoming_from:
        m = pattern.match(body)
        if m is not None:
            return _set_channel(found, channel, "in", clause, _drop_org(body[m.end() :], orgs, w))
    for pattern, channel in w.channels:
        m = pattern.match(body)
        if m is not None:
            return _set_channel(found, channel, "out", clause, _drop_org(body[m.end() :], orgs, w))
    org_first = _leading_org(clause, orgs, w)
    if org_first is not None:
        for pattern, channel in w.incoming_after:
            m = pattern.match(org_first)
            if m is not None:
                return _set_channel(found, channel, "in", clause, org_first[m.end() :])
    return clause


def _set_channel(found: Understood, channel: str, direction: str, clause: str, rest: str) -> str:
    if found.channel is not None and (found.channel, found.direction) != (channel, direction):
        raise UsageError(
            f"'{clause}' is a second contact ({found.channel}, then {channel}); "
            "log one contact per line"
        )
    found.channel, found.direction = channel, direction
    return rest


def _leading_org(text: str, orgs: list[tuple[re.Pattern[str], str]], w: Words) -> str | None:
    """`text` after an organization's name at its start ("amex called me" -> "called me")."""
    bare = w.articles.sub("", text.strip(), count=1)
    for pattern, _name in orgs:
        m = pattern.match(bare)
        if m is not None:
            return bare[m.end() :].strip()
    return None


def _drop_org(text: str, orgs: list[tuple[re.Pattern[str], str]], w: Words) -> str:
    after = _leading_org(text, orgs, w)
    return after if after is not None else text


def _references(text: str, found: Understood, w: Words) -> str:
    """Every reference number in the clause, kept exactly, with the kind its words say;
    "ref A-1 and B-2" gives two."""
    while True:
        m, kind = _first_reference_word(text, w)
        if m is None:
            return text
        after = text[m.end() :]
        tokens = after.split(" ")
        skip = 0
        while skip < len(tokens) and (not tokens[skip] or tokens[skip].lower() in w.fillers):
            skip += 1
        head = " ".join(tokens[skip:])
        ref = _REF.match(head)
        if ref is None or not any(c.isdigit() for c in ref["ref"]):
            # "reference" said without a number: the summary keeps it.
            return text[: m.start()] + " " + _references(after, found, w)
        found.references.append((ref["ref"].rstrip("."), kind))
        rest = head[ref.end() :]
        more = w.more_refs.match(rest)
        while more is not None and any(c.isdigit() for c in more["ref"]):
            found.references.append((more["ref"].rstrip("."), kind))
            rest = rest[more.end() :]
            more = w.more_refs.match(rest)
        text = text[: m.start()] + " " + rest


def _first_reference_word(text: str, w: Words) -> tuple[re.Match[str] | None, str]:
    """The earliest reference word in `text` (the longest there: "complaint ref" over
    "ref"), and its kind."""
    best: tuple[re.Match[str] | None, str] = (None, "contact")
    for pattern, kind in w.references:
        m = pattern.search(text)
        if m is None:
            continue
        current = best[0]
        if current is None or (m.start(), -len(m.group(0))) < (
            current.start(),
            -len(current.group(0)),
        ):
            best = (m, kind)
    return best


def _agent_id(text: str, found: Understood, w: Words) -> str:
    m = w.agent_id.search(text)
    if m is None or not any(c.isdigit() for c in m["id"]):
        return text
    found.agent_id = m["id"]
    return text[: m.start()] + " " + text[m.end() :]


def _agent(text: str, found: Understood, w: Words) -> str:
    """The agent's name after "spoke to" and the like: one word, then up to two more
    capitalised ones ("Maria Lopez"); a role before it is no part ("supervisor Linda").
    "#4471" right after the name is the agent's id."""
    for m in w.agent.finditer(text):
        tail = text[m.end() :].strip()
        role = w.roles.match(tail)
        if role is not None:
            tail = tail[role.end() :].strip()
        pattern = _CAPITALISED_NAME if role is not None else _NAME
        names = pattern.match(tail)
        if names is None:
            continue
        first = names[1].rstrip(".")
        if first.lower() in w.not_names:
            continue
        kept: list[str] = []
        for part in names[2].split():
            if part.lower() in w.name_ends:
                break
            kept.append(part)
        name = " ".join([first, *kept])
        if found.agent is not None and found.agent != name:
            raise UsageError(f"two agents' names ({found.agent}, {name}); give one per line")
        found.agent = name
        used = len(text) - len(tail) + len(" ".join([names[1], *kept]))
        badge = _HASH_ID.match(text[used:])
        if badge is not None and found.agent_id is None:
            found.agent_id = badge[1]
            used += badge.end()
        return text[: m.start()] + " " + text[used:]
    return text


_NAME = re.compile(r"([^\W\d_][\w'\-.]*)((?:\s+[A-Z][\w'\-]*){0,2})")
_CAPITALISED_NAME = re.compile(r"([A-Z][\w'\-.]*)((?:\s+[A-Z][\w'\-]*){0,2})")
_HASH_ID = re.compile(r"\s*\(?#(\d[\w\-]*)\)?")


def _duration(text: str, found: Understood, w: Words) -> str:
    for m in _DURATION.finditer(text):
        before = text[: m.start()].rstrip()
        after = text[m.end() :].lstrip()
        alone = not before and (not after or w.duration_after.match(after) is not None)
        said = alone or bool(before and _ends_with(before, w.duration_before))
        if not said:
            continue
        try:
            found.duration = parse_duration(m["d"])
        except WhenError:
            continue
        start = m.start()
        if before and _ends_with(before, w.duration_before):
            start = _last_match(before, w.duration_before)
        end = m.end()
        tail = w.duration_after.match(after) if after else None
        if tail is not None:
            end = len(text) - len(after) + tail.end()
        return text[:start] + " " + text[end:]
    return text


def _ends_with(text: str, pattern: re.Pattern[str]) -> bool:
    return any(m.end() == len(text) for m in pattern.finditer(text))


def _last_match(text: str, pattern: re.Pattern[str]) -> int:
    return [m.start() for m in pattern.finditer(text) if m.end() == len(text)][-1]


def _promiser(text: str, w: Words) -> str | None:
    """Who promised, when the clause says so ("they will", "I'll"), else None."""
    me = w.me.search(text)
    company = w.company.search(text)
    # The first said wins; of two at one place, the longer ("I will get" is the company's).
    if me is not None and (company is None or _place(me) <= _place(company)):
        return "me"
    if company is not None:
        return "company"
    return None


def _place(m: re.Match[str]) -> tuple[int, int]:
    return m.start(), -len(m.group(0))


def _promise_text(
    before: str, found: Understood, w: Words, orgs: list[tuple[re.Pattern[str], str]]
) -> tuple[str, str]:
    """(who promised, what) from the words before the time: the subject and the verbs of
    promising left out ("they will send a letter" -> company, "send a letter")."""
    text = before.strip(" .,-")
    text = _drop_org(text, orgs, w)
    named = re.match(r"([A-Z][\w'\-]+)\s+", text)
    after_name = text[named.end() :] if named is not None else ""
    if named is not None and (w.company.match(after_name) or w.said.match(after_name)):
        # "Jen said the credit will show": Jen is the agent, who said it.
        if found.agent is None and named[1].lower() not in w.not_names:
            found.agent = named[1]
        text = text[named.end() :]
    by = "company"
    while True:
        me = w.me.match(text)
        company = w.company.match(text) or w.said.match(text)
        if me is not None and (company is None or me.end() >= company.end()):
            by = "me"
            text = text[me.end() :].strip()
        elif company is not None:
            text = text[company.end() :].strip()
        else:
            break
        text = _drop_org(text, orgs, w)
    return by, text.strip(" .,-")


def _time_in(text: str, w: Words, check: Any, *, what: str) -> tuple[str, str | None]:
    """(the clause's other words, the time in it as the grammar reads it): the earliest
    time, the longest that reads ("if nothing by the 15th call back" -> "by the 15th").

    None when there is none; UsageError when one is clearly meant but cannot be read (a
    cue followed by a number or a day's word, or "by" followed by anything but "email"),
    naming the phrase.
    """
    tokens = text.split()
    lowered = [t.lower().strip(",.") for t in tokens]
    first_error: WhenError | None = None
    meant = False
    for i in range(len(tokens)):
        word = lowered[i]
        if _after_expiry(lowered, i, w):
            continue
        said_as, skip = _cue_as(lowered, i, w)
        cue = word in w.cues or said_as is not None
        if not (cue or word in w.time_words or word[:1].isdigit()):
            continue
        after = lowered[i + skip :]
        if cue and after:
            strong = said_as is not None or word in w.strong
            meant = meant or _starts_a_time(after, w) or (strong and after[0] not in w.not_times)
        for end in range(len(tokens), i, -1):
            spans = [" ".join(tokens[i:end])]
            if said_as is not None and end > i + skip:
                spans.insert(0, " ".join([said_as, *tokens[i + skip : end]]))
            for candidate in spans:
                candidate = candidate.rstrip(".,")
                try:
                    check(candidate)
                except WhenError as exc:
                    if end == len(tokens):
                        first_error = first_error or exc
                    continue
                return " ".join(tokens[:i] + tokens[end:]), candidate
    if first_error is not None and meant:
        raise UsageError(f"{what}: {first_error}")
    return text, None


def _cue_as(lowered: Sequence[str], i: int, w: Words) -> tuple[str | None, int]:
    """A cue the grammar is told in its own words ("before" -> "by"), and its length."""
    for phrase, said_as in sorted(w.cue_as.items(), key=lambda kv: -len(kv[0])):
        n = len(phrase.split())
        if " ".join(lowered[i : i + n]) == phrase:
            return said_as, n
    return None, 1


def _after_expiry(lowered: Sequence[str], i: int, w: Words) -> bool:
    """Whether the word at i is a card's expiry date ("exp 12/27", "valid thru: 12/27")."""
    return any(
        i >= len(words) and tuple(t.rstrip(":") for t in lowered[i - len(words) : i]) == words
        for words in w.expiry
    )


def _looks_like_time(tokens: Sequence[str], w: Words) -> bool:
    return any(any(c.isdigit() for c in t) or t in w.time_words for t in tokens)


def _starts_a_time(after: Sequence[str], w: Words) -> bool:
    """Whether the words after a cue start like a time: a number or a time's word first, or
    second after another cue or an article ("on the 15th", "in a week", "by next friday").
    "on card ending 4200" does not: its words stay the summary's."""
    if _looks_like_time(after[:1], w):
        return True
    return (
        len(after) > 1
        and (after[0] in w.cues or after[0] in ("a", "an"))
        and (_looks_like_time(after[1:2], w))
    )


# --------------------------------------------------------------------------- times


def resolve(when: str, anchor: datetime, calendar: Calendar, order: str | None) -> Window:
    """A part's time, counted from the contact's time on the case's calendar."""
    return parse_window(when, anchor, calendar=calendar, order=order)
