"""The case file's page, a view of one case: :func:`gather` reads it into plain rows of
text, :func:`render_html` lays them out with the Jinja2 template shipped in the package
(``tracker/templates/casefile.html.j2``, autoescaped: no text anyone typed can become
markup), its CSS inline and no URL in it, so the page loads nothing and prints on A4 or
Letter. (What `case file` says it wrote is tracker.views.casefile, loaded with every view: this
module, its Jinja2 and its clocks load for the command alone.)

The clocks are the ones the rest of tracker counts: the promise states of ``case show``
(promise_counts) and the escalation thresholds of the case's policy (tracker.due.case_clocks,
tracker.policy.crossings), as ``tracker due`` and the daemon see them. "The company's last
reply" is the last contact in which the company spoke: one from them (direction in), or one
of ours on a channel where they answer in the same exchange (a call, a chat, a visit:
Channel.live).

Everything here comes from the store, where card numbers are already masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from tracker import __version__
from tracker.casefile import html_name, member_name
from tracker.cases import load_case_detail
from tracker.due import case_clocks
from tracker.history import Payload, payload_of
from tracker.models import Attachment, Case, Event, Interaction, Promise
from tracker.policy import Policies, crossings, load_policies
from tracker.values import size_in_words
from tracker.views.case import promise_counts, superseded
from tracker.vocabulary import ACTIVE_STATUSES, CHANNEL, FOLLOW_UP_TEXT
from tracker.when import zone_label

TEMPLATE = "casefile.html.j2"
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NOT_RECORDED = "not recorded"

# Events that are the tool's own bookkeeping, not part of the case's story.
_NOT_IN_TIMELINE = {"undone", "reminder_fired"}
_EVENT_WORDS = {
    "opened": "Case opened",
    "note": "Note",
    "interaction": "Contact",
    "reference_added": "Reference number",
    "promise_made": "Promise made",
    "promise_kept": "Promise kept",
    "promise_broken": "Promise broken",
    "promise_cancelled": "Promise cancelled",
    "follow_up_set": "Follow-up set",
    "follow_up_done": "Follow-up done",
    "follow_up_cancelled": "Follow-up cancelled",
    "follow_up_snoozed": "Follow-up moved",
    "escalated": "Escalated",
    "resolved": "Resolved",
    "reopened": "Reopened",
    "closed": "Closed",
    "corrected": "Correction",
    "attachment_added": "Evidence added",
    "letter_sent": "Letter sent",
    "tagged": "Tagged",
    "untagged": "Tag removed",
    "imported": "Imported",
}
_SINCE_WORDS = {
    "opened": "the case was opened",
    "notice": "the billing-error notice was sent (else the case was opened)",
    "last_interaction": "the last contact (or escalation)",
    "escalated": "the last escalation",
    "promise_broken": "the first broken promise",
}


# --------------------------------------------------------------------------- dates and money


def day(value: date) -> str:
    """2026-11-02 (Mon): ISO, and the weekday in English whatever the locale."""
    return f"{value.isoformat()} ({_DAY_NAMES[value.weekday()]})"


def moment(value: datetime, tz: tzinfo) -> str:
    """2026-11-02 (Mon) 14:30, in `tz`."""
    local = value.astimezone(tz)
    return f"{day(local.date())} {local:%H:%M}"


def days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def calendar_days(start: datetime, end: datetime, tz: tzinfo) -> int:
    """Days from `start` to `end` as a calendar in `tz` counts them (0 on the same day)."""
    return (end.astimezone(tz).date() - start.astimezone(tz).date()).days


def amount(case: Case) -> str | None:
    if case.amount is None:
        return None
    return f"{case.amount} {case.currency}" if case.currency else str(case.amount)


def size_words(count: int) -> str:
    return size_in_words(count)


# --------------------------------------------------------------------------- the rows


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    detail: str | None = None


@dataclass(frozen=True)
class Limit:
    """A time limit or escalation threshold of the case's policy, and where it stands."""

    why: str
    counts_from: str
    at: str
    status: str
    passed: bool
    rule: str
    next_step: str | None


@dataclass(frozen=True)
class ReferenceRow:
    value: str
    kind: str
    given: str
    contact: str | None


@dataclass(frozen=True)
class PromiseRow:
    id: int
    by: str
    text: str
    made: str
    due: str
    status: str
    state: str  # pending, overdue, kept, broken, cancelled (a CSS class too)


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    order: int
    when: str
    what: str
    agent: str | None
    references: list[str]
    lines: list[str]
    text: str | None = None  # a note's or a summary's whole text, line breaks kept
    corrected: bool = False


@dataclass(frozen=True)
class EvidenceRow:
    id: int
    filename: str
    member: str  # its path inside the bundle
    kind: str
    media_type: str
    added: str
    size: str
    size_bytes: int
    sha256: str
    original_sha256: str | None  # when the stored copy differs (card data masked out)
    masked: int
    note: str | None
    contact: str | None


def hash_groups(digest: str) -> list[str]:
    """A SHA-256 in four groups of 16, which wrap only between groups when printed."""
    return [digest[i : i + 16] for i in range(0, len(digest), 16)]


@dataclass(frozen=True)
class CaseFile:
    case_id: int
    title: str
    organization: str | None
    prepared: str
    prepared_at: datetime
    zone: str
    summary: list[Fact]
    clocks: list[Fact]
    policy_title: str
    limits: list[Limit]
    references: list[ReferenceRow]
    promises: list[PromiseRow]
    timeline: list[Entry]
    evidence: list[EvidenceRow]
    version: str = __version__
    attachments: list[Attachment] = field(default_factory=list, repr=False, compare=False)

    @property
    def html_name(self) -> str:
        return html_name(self.case_id)


# --------------------------------------------------------------------------- gathering


def gather(
    session: Session,
    case_id: int,
    *,
    now: datetime,
    tz: tzinfo,
    policies: Policies | None = None,
) -> CaseFile:
    """The case file of a case, its times in `tz`, its clocks as of `now` (or as of its
    resolution, for a resolved or closed case). NotFound if there is no such case."""
    case = load_case_detail(session, case_id)
    policies = policies if policies is not None else load_policies()
    org = case.organization.name if case.organization else None
    active = case.status in ACTIVE_STATUSES
    end = now if active else (case.resolved_at or case.closed_at or now)
    interactions = {i.id: i for i in case.interactions}

    def contact_words(interaction_id: int | None) -> str | None:
        item = interactions.get(interaction_id) if interaction_id is not None else None
        if item is None:
            return None
        words = f"{CHANNEL[item.channel].label.lower()} on {moment(item.at, tz)}"
        return f"{words} with {item.agent_name}" if item.agent_name else words

    policy, facts = case_clocks(case, policies)
    limits = _limits(crossings(facts, policy), end, active, tz)
    return CaseFile(
        case_id=case.id,
        title=case.title,
        organization=org,
        prepared=moment(now, tz),
        prepared_at=now,
        zone=zone_label(tz, now),
        summary=_summary(case, tz),
        clocks=_clocks(case, end, active, limits, now, tz),
        policy_title=policy.title,
        limits=limits,
        references=[
            ReferenceRow(
                value=r.value,
                kind=r.kind,
                given=moment(r.created_at, tz),
                contact=contact_words(r.interaction_id),
            )
            for r in case.references
        ],
        promises=[_promise_row(p, interactions, org, now, tz) for p in case.promises],
        timeline=_timeline(case, interactions, org, tz),
        evidence=[
            EvidenceRow(
                id=a.id,
                filename=a.filename,
                member=member_name(a),
                kind=a.kind,
                media_type=a.media_type,
                added=moment(a.created_at, tz),
                size=size_words(a.size),
                size_bytes=a.size,
                sha256=a.sha256,
                original_sha256=a.original_sha256 if a.original_sha256 != a.sha256 else None,
                masked=a.masked,
                note=a.note,
                contact=contact_words(a.interaction_id),
            )
            for a in case.attachments
        ],
        attachments=list(case.attachments),
    )


def _summary(case: Case, tz: tzinfo) -> list[Fact]:
    def opt(value: str | None) -> str:
        return value if value else NOT_RECORDED

    rows = [
        Fact("Case", f"Case {case.id}"),
        Fact("Organization", opt(case.organization.name if case.organization else None)),
        Fact("Category", case.category.replace("_", " ")),
        Fact("Status", case.status),
        Fact("Escalation level", case.escalation_level),
        Fact("Account", f"ending {case.account_last4}" if case.account_last4 else NOT_RECORDED),
        Fact("Amount", opt(amount(case))),
        Fact("Merchant", opt(case.merchant)),
        Fact(
            "Transaction date",
            day(case.transaction_date) if case.transaction_date else NOT_RECORDED,
        ),
        Fact("Opened", moment(case.opened_at, tz)),
    ]
    if case.escalated_at:
        rows.append(Fact("Last escalated", moment(case.escalated_at, tz)))
    rows.append(
        Fact("Resolved", moment(case.resolved_at, tz) if case.resolved_at else "not resolved")
    )
    if case.closed_at:
        rows.append(Fact("Closed", moment(case.closed_at, tz)))
    if case.outcome:
        rows.append(Fact("Outcome", case.outcome))
    if case.tags:
        rows.append(Fact("Tags", ", ".join(t.tag for t in case.tags)))
    return rows


def last_reply(case: Case) -> Interaction | None:
    """The last contact in which the company spoke (see the module's docstring)."""
    replies = [i for i in case.interactions if i.direction == "in" or CHANNEL[i.channel].live]
    return max(replies, key=lambda i: (i.at, i.id)) if replies else None


def _clocks(
    case: Case,
    end: datetime,
    active: bool,
    limits: Sequence[Limit],
    now: datetime,
    tz: tzinfo,
) -> list[Fact]:
    until = "" if active else f" (until it was {case.status})"
    rows = [
        Fact(
            "Days open",
            days(calendar_days(case.opened_at, end, tz)),
            f"opened {moment(case.opened_at, tz)}{until}",
        )
    ]
    reply = last_reply(case)
    if reply is None:
        rows.append(
            Fact(
                "Days since the company's last reply",
                "no reply recorded",
                "no contact from them, and no call, chat or visit with them",
            )
        )
    else:
        way = "from them" if reply.direction == "in" else "with them"
        rows.append(
            Fact(
                "Days since the company's last reply",
                days(calendar_days(reply.at, end, tz)),
                f"{CHANNEL[reply.channel].label.lower()} {way} on {moment(reply.at, tz)}",
            )
        )
    if case.last_interaction_at is not None:
        rows.append(
            Fact(
                "Days since the last contact",
                days(calendar_days(case.last_interaction_at, end, tz)),
                f"either way, on {moment(case.last_interaction_at, tz)}",
            )
        )
    counts = promise_counts(case, now)
    mine = sum(1 for p in case.promises if p.promised_by == "me")
    rows.append(
        Fact(
            "Promises kept",
            f"{counts['kept']} of {len(case.promises)}",
            f"{counts['pending']} not yet due, {counts['cancelled']} cancelled"
            + (f"; {mine} of them promises of mine" if mine else ""),
        )
    )
    rows.append(
        Fact(
            "Promises broken",
            str(counts["broken"] + counts["overdue"]),
            f"{counts['broken']} marked broken, {counts['overdue']} past due and not kept",
        )
    )
    passed = [limit for limit in limits if limit.passed]
    rows.append(
        Fact(
            "Time limits passed",
            f"{len(passed)} of {len(limits)}" if limits else "none apply",
            "; ".join(limit.why for limit in passed) or None,
        )
    )
    return rows


def _limits(found: Sequence[Any], end: datetime, active: bool, tz: tzinfo) -> list[Limit]:
    """The thresholds the case's policy sets at its level (tracker.policy.crossings): passed
    by `end`, and, on an active case, those still ahead."""
    rows = []
    for crossing in found:
        threshold = crossing.threshold
        passed = crossing.at <= end
        if not passed and not active:
            continue
        if threshold.since is not None:
            counts_from = f"{threshold.after} after {_SINCE_WORDS[threshold.since]}"
            if threshold.broken_promises:
                counts_from += f", and {threshold.broken_promises} promises broken"
        else:
            counts_from = f"{threshold.broken_promises} promises broken"
        count = abs(calendar_days(crossing.at, end, tz))
        if passed:
            status = "passed today" if count == 0 else f"passed {days(count)} ago"
        else:
            status = "falls today" if count == 0 else f"in {days(count)}"
        step = threshold.action
        if step is None and crossing.target is not None:
            step = f"escalate to {crossing.target}"
        rows.append(
            Limit(
                why=threshold.why,
                counts_from=counts_from,
                at=moment(crossing.at, tz),
                status=status,
                passed=passed,
                rule=threshold.rule or threshold.why,
                next_step=step,
            )
        )
    return rows


def _promise_row(
    promise: Promise,
    interactions: dict[int, Interaction],
    org: str | None,
    now: datetime,
    tz: tzinfo,
) -> PromiseRow:
    item = interactions.get(promise.interaction_id) if promise.interaction_id else None
    if promise.promised_by == "me":
        by = "me"
    elif item is not None and item.agent_name:
        by = f"{item.agent_name} ({org})" if org else item.agent_name
    else:
        by = org or "the company"
    made = moment(item.at if item is not None else promise.created_at, tz)
    due = moment(promise.due_at, tz)
    if promise.window_start is not None:
        due = f"from {moment(promise.window_start, tz)} to {due}"
    state = promise.state(now)
    when = f" on {moment(promise.status_at, tz)}" if promise.status_at else ""
    status = {
        "kept": f"kept{when}",
        "broken": f"broken{when}",
        "cancelled": f"cancelled{when}",
        "overdue": f"not kept: overdue by {days(max(calendar_days(promise.due_at, now, tz), 0))}",
        "pending": "not yet due",
    }[state]
    return PromiseRow(promise.id, by, promise.text, made, due, status, state)


def _safe_payload(event: Event) -> Payload | None:
    try:
        return payload_of(event)
    except ValueError:  # a payload this version does not know: the event's summary says it
        return None


def _timeline(
    case: Case, interactions: dict[int, Interaction], org: str | None, tz: tzinfo
) -> list[Entry]:
    """Every event of the case that `tracker undo` did not revert, oldest first; a contact
    with its agent, references and whole summary, a note with its whole text."""
    notes = {n.id: n for n in case.notes}
    promises = {p.id: p for p in case.promises}
    later = superseded(case.events)
    company = org or "the company"
    entries: list[Entry] = []
    for event in case.events:
        if event.undone or event.type in _NOT_IN_TIMELINE:
            continue
        payload = _safe_payload(event)
        created = payload.created if payload is not None else None
        at = event.at
        agent: str | None = None
        refs: list[str] = []
        lines: list[str] = []
        text: str | None = None
        what = _EVENT_WORDS.get(event.type, event.type.replace("_", " ").capitalize())
        item = interactions.get(created[1]) if created and created[0] == "interactions" else None
        note = notes.get(created[1]) if created and created[0] == "notes" else None
        promise = promises.get(created[1]) if created and created[0] == "promises" else None
        if item is not None:
            at = item.at
            channel = CHANNEL[item.channel].label
            what = f"{channel} {'to' if item.direction == 'out' else 'from'} {company}"
            if item.agent_name or item.agent_id:
                agent = item.agent_name or "name not given"
                if item.agent_id:
                    agent += f" (id {item.agent_id})"
            refs = [r.value for r in case.references if r.interaction_id == item.id]
            if item.via:
                lines.append(
                    ("Number or address used: " if item.direction == "out" else "From: ") + item.via
                )
            if item.duration_seconds:
                minutes = max(1, round(item.duration_seconds / 60))
                lines.append(f"Duration: {minutes} min")
            text = item.summary
        elif note is not None:
            text = note.body
        elif promise is not None:
            who = "I promised" if promise.promised_by == "me" else f"{company} promised"
            lines.append(f"{who}: {promise.text}")
            lines.append(f"Due {moment(promise.due_at, tz)}")
        else:
            if event.type == "reference_added":
                refs = [getattr(payload, "reference", "")] if payload is not None else []
            if event.type == "follow_up_set":
                due_at = getattr(payload, "due_at", None)
                summary = event.summary or FOLLOW_UP_TEXT
                lines.append(summary + (f" (due {moment(due_at, tz)})" if due_at else ""))
            else:
                lines.append(event.summary)
        entries.append(
            Entry(
                at=at,
                order=event.id,
                when=moment(at, tz),
                what=what,
                agent=agent,
                references=[r for r in refs if r],
                lines=lines,
                text=text,
                corrected=event.id in later,
            )
        )
    entries.sort(key=lambda e: (e.at, e.order))
    return entries


# --------------------------------------------------------------------------- rendering


def render_html(casefile: CaseFile) -> str:
    """The page: the package's template, autoescaped, strictly (a missing value is an error,
    never an empty cell)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("tracker", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["hash_groups"] = hash_groups
    return environment.get_template(TEMPLATE).render(cf=casefile)
