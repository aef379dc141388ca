"""Cases as JSON-ready dicts: the keys CLI.md fixes, plus a few more."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from tracker.cases import promise_state, was_undone
from tracker.models import Case, Event, FollowUp, Interaction, Note, Promise, Reference


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def iso_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def case_summary(case: Case, *, overdue: int = 0) -> dict[str, Any]:
    return {
        "id": case.id,
        "title": case.title,
        "organization": case.organization.name if case.organization else None,
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
        "overdue_promises": overdue,
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
        "references": [r.value for r in refs if r.interaction_id == item.id],
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
    state = promise_state(promise, now)
    return {
        "id": promise.id,
        "text": promise.text,
        "promised_by": promise.promised_by,
        "due_at": iso(promise.due_at),
        "status": promise.status,
        "overdue": state == "overdue",
        "interaction_id": promise.interaction_id,
        "created_at": iso(promise.created_at),
        "status_at": iso(promise.status_at),
    }


def follow_up_dict(item: FollowUp) -> dict[str, Any]:
    return {
        "id": item.id,
        "due_at": iso(item.due_at),
        "text": item.text,
        "status": item.status,
        "created_at": iso(item.created_at),
    }


def note_dict(note: Note) -> dict[str, Any]:
    return {"id": note.id, "at": iso(note.created_at), "body": note.body}


# Event data keys that are bookkeeping for undo, not history.
_PRIVATE_EVENT_KEYS = {"case_before", "promise_before", "created", "created_organization"}


def event_dict(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": event.id,
        "at": iso(event.at),
        "type": event.type,
        "summary": event.summary,
        "undone": was_undone(event),
    }
    for key, value in event.data.items():
        if key not in _PRIVATE_EVENT_KEYS:
            out[key] = value
    return out


def promise_counts(case: Case, now: datetime) -> dict[str, int]:
    counts = Counter(promise_state(p, now) for p in case.promises)
    return {
        state: counts.get(state, 0)
        for state in ("pending", "overdue", "kept", "broken", "cancelled")
    }


def case_detail(case: Case, now: datetime) -> dict[str, Any]:
    counts = promise_counts(case, now)
    out = case_summary(case, overdue=counts["overdue"])
    out["promise_counts"] = counts
    out["interactions"] = [interaction_dict(i, case.references) for i in case.interactions]
    out["references"] = [reference_dict(r) for r in case.references]
    out["promises"] = [promise_dict(p, now) for p in case.promises]
    out["follow_ups"] = [follow_up_dict(f) for f in case.follow_ups]
    out["notes"] = [note_dict(n) for n in case.notes]
    out["events"] = [event_dict(e) for e in sorted(case.events, key=lambda e: (e.at, e.id))]
    return out
