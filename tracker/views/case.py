"""Cases: the case table, the case report with its timeline, and their JSON shapes.

The JSON keys are the CLI contract's (docs/cli.md); times are ISO 8601 in UTC, amounts
exact decimal strings. Text shows local times.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from tracker.cases import CaseLine
from tracker.history import Corrected, Payload, payload_of
from tracker.models import (
    Attachment,
    Case,
    Event,
    FollowUp,
    Interaction,
    Note,
    Promise,
    Reference,
)
from tracker.values import size_in_words
from tracker.views import base
from tracker.views.base import echo, emit_json, indented_rows, one_line, table
from tracker.vocabulary import FOLLOW_UP_TEXT
from tracker.when import calendar_by_key, format_local, humanize_delta, local_zone, zone_label

PROMISE_STATES = ("pending", "overdue", "kept", "broken", "cancelled")


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def iso_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def due_text(at: datetime, now: datetime) -> str:
    """How soon or how late: "in 3 days", "2 days overdue", "due now"."""
    delta = at - now
    if delta > timedelta(0):
        return humanize_delta(delta, precise=True)
    if -delta < timedelta(minutes=1):
        return "due now"
    return humanize_delta(delta, precise=True).removesuffix(" ago") + " overdue"


def money(case: Case) -> str | None:
    if case.amount is None:
        return None
    return f"{case.amount} {case.currency}" if case.currency else str(case.amount)


def promise_counts(case: Case, now: datetime) -> dict[str, int]:
    counts = Counter(p.state(now) for p in case.promises)
    return {state: counts.get(state, 0) for state in PROMISE_STATES}


def _safe_payload(event: Event) -> Payload | None:
    try:
        return payload_of(event)
    except ValueError:  # a payload this version does not know: show the event without it
        return None


# --------------------------------------------------------------------------- JSON shapes


def case_summary(case: Case, *, overdue: int = 0) -> dict[str, Any]:
    org = case.organization
    return _summary(case, org.name if org else None, [t.tag for t in case.tags], overdue)


def case_line_summary(line: CaseLine, *, overdue: int = 0) -> dict[str, Any]:
    """case_summary of a case read as a row (`case list`)."""
    return _summary(line, line.organization, list(line.tags), overdue)


def _summary(
    case: Case | CaseLine, org: str | None, tags: list[str], overdue: int
) -> dict[str, Any]:
    return {
        "id": case.id,
        "title": case.title,
        "organization": org,
        "category": case.category,
        "status": case.status,
        "escalation_level": case.escalation_level,
        "opened_at": iso(case.opened_at),
        "resolved_at": iso(case.resolved_at),
        "closed_at": iso(case.closed_at),
        "last_activity_at": iso(case.last_activity_at),
        "account_last4": case.account_last4,
        "amount": None if case.amount is None else str(case.amount),
        "currency": case.currency,
        "merchant": case.merchant,
        "transaction_date": iso_date(case.transaction_date),
        "outcome": case.outcome,
        "overdue_promise_count": overdue,
        # Its name before the keys were made one per meaning (docs/json.md): the contract
        # named it, so it stays, with the same value.
        "overdue_promises": overdue,
        "tags": tags,
    }


def interaction_dict(item: Interaction, refs: list[Reference]) -> dict[str, Any]:
    return {
        "id": item.id,
        "at": iso(item.at),
        "channel": item.channel,
        "direction": item.direction,
        "via": item.via,
        "agent": item.agent_name,
        "agent_id": item.agent_id,
        "duration_seconds": item.duration_seconds,
        "summary": item.summary,
        "reference_values": [r.value for r in refs if r.interaction_id == item.id],
        "draft": bool(item.draft),
    }


def reference_dict(ref: Reference) -> dict[str, Any]:
    return {
        "id": ref.id,
        "value": ref.value,
        "kind": ref.kind,
        "interaction_id": ref.interaction_id,
        "created_at": iso(ref.created_at),
    }


def promise_dict(promise: Promise, now: datetime) -> dict[str, Any]:
    return {
        "id": promise.id,
        "text": promise.text,
        "promised_by": promise.promised_by,
        "due_at": iso(promise.due_at),
        "window_start_at": iso(promise.window_start),
        "calendar": promise.calendar,
        "status": promise.status,
        "overdue": promise.is_overdue(now),
        "interaction_id": promise.interaction_id,
        "created_at": iso(promise.created_at),
        "status_at": iso(promise.status_at),
    }


def follow_up_dict(item: FollowUp) -> dict[str, Any]:
    """status as stored (pending, fired, done, cancelled); state adds snoozed (pending at
    a new time, snoozed_from its time before)."""
    return {
        "id": item.id,
        "case_id": item.case_id,
        "due_at": iso(item.due_at),
        "text": item.text,
        "status": item.status,
        "state": item.state(),
        "status_at": iso(item.status_at),
        "snoozed_from": iso(item.snoozed_from),
        "again_of": item.again_of,
        "created_at": iso(item.created_at),
    }


def note_dict(note: Note) -> dict[str, Any]:
    return {"id": note.id, "at": iso(note.created_at), "body": note.body}


def attachment_dict(item: Attachment) -> dict[str, Any]:
    """A piece of evidence: what it is, and the hashes that prove which bytes were kept
    (``sha256`` of the stored copy, ``original_sha256`` of the file as given)."""
    return {
        "id": item.id,
        "case_id": item.case_id,
        "interaction_id": item.interaction_id,
        "kind": item.kind,
        "filename": item.filename,
        "media_type": item.media_type,
        "size": item.size,
        "sha256": item.sha256,
        "original_sha256": item.original_sha256,
        "masked_count": item.masked,
        "note": item.note,
        "message_id": item.message_id,
        "at": iso(item.created_at),
    }


def attachment_rows(items: Sequence[Attachment], local: Any) -> list[list[str]]:
    """One row per attachment for a text listing: id, date, kind, name, size, hash, notes."""
    rows = []
    for a in items:
        extra = []
        if a.interaction_id is not None:
            extra.append(f"contact #{a.interaction_id}")
        if a.masked:
            extra.append(f"{a.masked} masked")
        if a.note:
            extra.append(one_line(a.note))
        rows.append(
            [
                f"#{a.id}",
                local(a.created_at),
                a.kind,
                a.filename,
                size_in_words(a.size),
                f"sha256 {a.sha256[:12]}",
                "; ".join(extra),
            ]
        )
    return rows


def superseded(events: Sequence[Event]) -> dict[int, list[int]]:
    """Event id -> the corrections (event ids, oldest first) that supersede it, counting
    only those `tracker undo` has not reverted."""
    corrections = [
        (event.id, payload)
        for event in events
        if event.type == Corrected.TYPES[0] and not event.undone
        for payload in [_safe_payload(event)]
        if isinstance(payload, Corrected)
    ]
    if not corrections:
        return {}
    # The events that recorded a row a correction rewrote (a contact's reference too).
    recorded: dict[tuple[str, int], int] = {}
    for event in events:
        payload = _safe_payload(event)
        if payload is not None and payload.created is not None:
            recorded.setdefault(payload.created, event.id)
    found: dict[int, list[int]] = {}
    for correction_id, payload in corrections:
        named = {payload.supersedes} | {recorded.get(row) for row in payload.rows()}
        for event_id in sorted(i for i in named if i is not None):
            found.setdefault(event_id, []).append(correction_id)
    return found


def event_dict(event: Event, superseded_by: Sequence[int] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": event.id,
        "at": iso(event.at),
        "type": event.type,
        "summary": event.summary,
        "undone": event.undone,
        "superseded": bool(superseded_by),
        "superseded_by": list(superseded_by),
    }
    payload = _safe_payload(event)
    if payload is not None:
        out.update({PUBLIC_NAMES.get(k, k): v for k, v in payload.public().items()})
    return out


# A payload field shown under another name, so that a key means one thing in every --json
# output (docs/json.md): an id of ours ends in _id.
PUBLIC_NAMES = {"reverted_change": "reverted_change_id"}


def case_detail(case: Case, now: datetime, tz: tzinfo | None = None) -> dict[str, Any]:
    counts = promise_counts(case, now)
    out = case_summary(case, overdue=counts["overdue"])
    out["time_zone"] = zone_label(tz or local_zone(), now)
    out["promise_counts"] = counts
    out["interactions"] = [interaction_dict(i, case.references) for i in case.interactions]
    out["references"] = [reference_dict(r) for r in case.references]
    out["promises"] = [promise_dict(p, now) for p in case.promises]
    out["follow_ups"] = [follow_up_dict(f) for f in case.follow_ups]
    out["notes"] = [note_dict(n) for n in case.notes]
    out["attachments"] = [attachment_dict(a) for a in case.attachments]
    later = superseded(case.events)
    out["events"] = [
        event_dict(e, later.get(e.id, ())) for e in sorted(case.events, key=lambda e: (e.at, e.id))
    ]
    return out


# --------------------------------------------------------------------------- text


def case_table(cases: Sequence[CaseLine], overdue: dict[int, int], *, aligned: bool) -> str:
    headers = ["ID", "STATUS", "LEVEL", "ORGANIZATION", "CATEGORY", "LAST ACTIVITY", "TITLE"]
    zone = local_zone()  # once: a list of every active case has thousands of rows
    rows = []
    for case in cases:
        late = overdue.get(case.id, 0)
        title = case.title if not late else f"{case.title} [{late} overdue]"
        rows.append(
            [
                str(case.id),
                case.status,
                case.escalation_level,
                case.organization or "-",
                case.category,
                format_local(case.last_activity_at, zone),
                title,
            ]
        )
    return table(headers, rows, aligned=aligned, fit=(3, 6))  # organization, title


def promise_due(promise: Promise, now: datetime, tz: tzinfo | None = None) -> str:
    """'due 2026-12-15 10:00 (in 3 days)', or for a window 'expected from 2026-12-10, due by
    2026-12-15 10:00 (in 3 days)', with the calendar its business days were counted on."""
    late = promise.status == "pending"
    when = f"{format_local(promise.due_at, tz)}"
    if late:
        when += f" ({due_text(promise.due_at, now)})"
    if promise.window_start is not None:
        start = format_local(promise.window_start, tz)[:10]
        text = f"expected from {start}, " + ("due by " if late else "was due by ") + when
    else:
        text = ("due " if late else "was due ") + when
    if promise.calendar:
        text += f"; business days: {calendar_by_key(promise.calendar).name}"
    return text


def follow_up_state(item: FollowUp, now: datetime, tz: tzinfo | None = None) -> tuple[str, str]:
    """Its state and when: ('snoozed', '2026-12-03 09:00 (in 1 day; was 2026-12-02 09:00)'),
    ('done', '2026-12-02 10:15; was due 2026-12-02 09:00')."""
    state = item.state()
    if item.status == "pending":
        when = f"{format_local(item.due_at, tz)} ({due_text(item.due_at, now)})"
        if item.snoozed_from is not None:
            when = when[:-1] + f"; was {format_local(item.snoozed_from, tz)})"
        return state, when
    due = f"was due {format_local(item.due_at, tz)}"
    if item.status_at is not None:
        return state, f"{format_local(item.status_at, tz)}; {due}"
    return state, due


def case_report(case: Case, now: datetime, tz: tzinfo | None = None) -> str:
    zone = tz or local_zone()

    def local(value: datetime) -> str:  # every time in the report's zone
        return format_local(value, zone)

    lines = [f"Case {case.id}: {case.title}"]
    facts: list[tuple[str, str | None]] = [
        ("Organization", case.organization.name if case.organization else None),
        ("Category", case.category),
        ("Status", f"{case.status} (level: {case.escalation_level})"),
        ("Times", zone_label(zone, now)),
        ("Opened", local(case.opened_at)),
        ("Escalated", local(case.escalated_at) if case.escalated_at else None),
        ("Resolved", local(case.resolved_at) if case.resolved_at else None),
        ("Closed", local(case.closed_at) if case.closed_at else None),
        ("Outcome", case.outcome),
        ("Account", f"ending {case.account_last4}" if case.account_last4 else None),
        ("Merchant", case.merchant),
        ("Amount", money(case)),
        ("Transaction", case.transaction_date.isoformat() if case.transaction_date else None),
        ("References", ", ".join(f"{r.value} ({r.kind})" for r in case.references) or None),
        ("Tags", ", ".join(t.tag for t in case.tags) or None),
    ]
    counts = promise_counts(case, now)
    if case.promises:
        facts.append(
            (
                "Promises",
                f"{counts['pending'] + counts['overdue']} pending ({counts['overdue']} overdue), "
                f"{counts['kept']} kept, {counts['broken']} broken, "
                f"{counts['cancelled']} cancelled",
            )
        )
    width = max(len(label) for label, _ in facts)
    lines += [f"  {label.ljust(width)}  {value}" for label, value in facts if value]

    if case.promises:
        lines += ["", "Promises"]
        rows = []
        for p in case.promises:
            state = p.state(now)
            due = promise_due(p, now, zone)
            rows.append(
                [
                    f"#{p.id}",
                    state.upper() if state == "overdue" else state,
                    "company" if p.promised_by == "company" else "me",
                    due,
                    p.text,
                ]
            )
        lines += indented_rows(rows)
    if case.follow_ups:
        # Pending ones first, soonest first; then the ones that ended, newest first.
        pending = sorted(
            (f for f in case.follow_ups if f.status == "pending"), key=lambda f: (f.due_at, f.id)
        )
        ended = sorted(
            (f for f in case.follow_ups if f.status != "pending"),
            key=lambda f: (f.status_at or f.due_at, f.id),
            reverse=True,
        )
        lines += ["", "Follow-ups"]
        rows = [
            [f"#{f.id}", *follow_up_state(f, now, zone), f.text or FOLLOW_UP_TEXT]
            for f in pending + ended
        ]
        lines += indented_rows(rows)
    if case.interactions:
        lines += ["", "Interactions"]
        for i in case.interactions:
            refs = [r.value for r in case.references if r.interaction_id == i.id]
            who = i.agent_name or "agent not noted"
            if i.agent_id:
                who += f" (id {i.agent_id})"
            head = f"  {local(i.at)}  {i.channel} {'out' if i.direction == 'out' else 'in'}"
            if i.via:
                head += f" via {i.via}"
            head += f"  {who}"
            if i.duration_seconds:
                head += f"  {i.duration_seconds // 60} min"
            if refs:
                head += f"  ref {', '.join(refs)}"
            lines.append(head)
            if i.draft:
                lines.append(f"      unfinished call: finish it with tracker call {case.id}")
            if i.summary:
                lines += [f"      {line}" for line in i.summary.splitlines()]
    if case.notes:
        lines += ["", "Notes"]
        for n in case.notes:
            body = n.body.splitlines() or [""]
            lines.append(f"  {local(n.created_at)}  {body[0]}")
            lines += [f"                    {line}" for line in body[1:]]
    if case.attachments:
        lines += ["", "Evidence"]
        lines += indented_rows(attachment_rows(case.attachments, local))
    lines += ["", "Timeline"]
    rows = []
    later = superseded(case.events)
    for e in sorted(case.events, key=lambda e: (e.at, e.id)):
        kind = e.type.replace("_", " ")
        summary = e.summary
        due_at = getattr(_safe_payload(e), "due_at", None)
        if e.type in ("promise_made", "follow_up_set") and due_at is not None:
            summary += f" (due {local(due_at)})"
        if e.undone:
            kind += " (undone)"
        elif e.id in later:
            kind += " (superseded)"
        rows.append([local(e.at), kind, one_line(summary)])
    lines += indented_rows(rows)
    return "\n".join(lines)


# --------------------------------------------------------------------------- the views


class Text:
    def case_detail(self, case: Case, now: datetime, tz: tzinfo | None = None) -> None:
        echo(case_report(case, now, tz))

    def attachment_list(self, case: Case, tz: tzinfo | None = None) -> None:
        if not case.attachments:
            # In a pipe the message goes to stderr: the data stream stays empty.
            echo(
                f"No evidence on case {case.id} (tracker case attach {case.id} FILE).",
                err=not base.stdout_is_tty(),
            )
            return
        rows = attachment_rows(case.attachments, lambda at: format_local(at, tz))
        echo("\n".join(indented_rows(rows, indent="")))

    def case_list(self, cases: Sequence[CaseLine], overdue: dict[int, int], empty: str) -> None:
        if not cases:
            # In a pipe the message goes to stderr: the data stream stays empty.
            echo(empty, err=not base.stdout_is_tty())
            return
        echo(case_table(cases, overdue, aligned=base.stdout_is_tty()))


class Json:
    def case_detail(self, case: Case, now: datetime, tz: tzinfo | None = None) -> None:
        emit_json(case_detail(case, now, tz))

    def attachment_list(self, case: Case, tz: tzinfo | None = None) -> None:
        emit_json([attachment_dict(a) for a in case.attachments])

    def case_list(self, cases: Sequence[CaseLine], overdue: dict[int, int], empty: str) -> None:
        emit_json([case_line_summary(c, overdue=overdue.get(c.id, 0)) for c in cases])
