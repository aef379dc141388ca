"""Terminal output: the case table, the case report with its timeline, the due list.

Plain text, aligned; no colour library (start-up cost). Times are shown in local time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tracker.cases import FOLLOW_UP_TEXT, promise_state, was_undone
from tracker.models import Case
from tracker.serialize import promise_counts
from tracker.when import format_local, humanize_delta


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, aligned: bool = True) -> str:
    """An aligned table (for people) or tab-separated lines (for pipes)."""
    if not aligned:
        lines = ["\t".join(headers)]
        lines += ["\t".join(_one_line(c) for c in row) for row in rows]
        return "\n".join(lines)
    cells = [list(headers)] + [[_one_line(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = []
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        out.append("  ".join(padded).rstrip())
    return "\n".join(out)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _clip(text: str, width: int) -> str:
    text = _one_line(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def case_table(cases: Sequence[Case], overdue: dict[int, int], *, aligned: bool) -> str:
    headers = ["ID", "STATUS", "LEVEL", "ORGANIZATION", "CATEGORY", "LAST ACTIVITY", "TITLE"]
    rows = []
    for case in cases:
        late = overdue.get(case.id, 0)
        title = case.title if not late else f"{case.title} [{late} overdue]"
        rows.append(
            [
                str(case.id),
                case.status,
                case.escalation_level,
                case.organization.name if case.organization else "-",
                case.category,
                format_local(case.last_activity_at),
                _clip(title, 60) if aligned else title,
            ]
        )
    return table(headers, rows, aligned=aligned)


def due_text(at: datetime, now: datetime) -> str:
    """How soon or how late: "in 3 days", "2 days overdue", "due now"."""
    delta = at - now
    if delta > timedelta(0):
        return humanize_delta(delta)
    if -delta < timedelta(minutes=1):
        return "due now"
    return humanize_delta(delta).removesuffix(" ago") + " overdue"


def money(case: Case) -> str | None:
    if case.amount is None:
        return None
    return f"{case.amount} {case.currency}" if case.currency else str(case.amount)


def case_report(case: Case, now: datetime) -> str:
    lines = [f"Case {case.id}: {case.title}"]
    facts: list[tuple[str, str | None]] = [
        ("Organization", case.organization.name if case.organization else None),
        ("Category", case.category),
        ("Status", f"{case.status} (level: {case.escalation_level})"),
        ("Opened", format_local(case.opened_at)),
        ("Escalated", format_local(case.escalated_at) if case.escalated_at else None),
        ("Resolved", format_local(case.resolved_at) if case.resolved_at else None),
        ("Closed", format_local(case.closed_at) if case.closed_at else None),
        ("Outcome", case.outcome),
        ("Account", f"ending {case.account_last4}" if case.account_last4 else None),
        ("Merchant", case.merchant),
        ("Amount", money(case)),
        ("Transaction", case.transaction_date.isoformat() if case.transaction_date else None),
        ("References", ", ".join(f"{r.value} ({r.kind})" for r in case.references) or None),
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
            state = promise_state(p, now)
            if p.status == "pending":
                due = f"due {format_local(p.due_at)} ({due_text(p.due_at, now)})"
            else:
                due = f"was due {format_local(p.due_at)}"
            rows.append(
                [
                    f"#{p.id}",
                    state.upper() if state == "overdue" else state,
                    "company" if p.promised_by == "company" else "me",
                    due,
                    p.text,
                ]
            )
        lines += ["  " + line for line in table(["", "", "", "", ""], rows).splitlines()[1:]]
    pending_follow_ups = sorted(
        (f for f in case.follow_ups if f.status == "pending"), key=lambda f: (f.due_at, f.id)
    )
    if pending_follow_ups:
        lines += ["", "Follow-ups"]
        rows = [
            [
                f"#{f.id}",
                f"{format_local(f.due_at)} ({due_text(f.due_at, now)})",
                f.text or FOLLOW_UP_TEXT,
            ]
            for f in pending_follow_ups
        ]
        lines += ["  " + line for line in table(["", "", ""], rows).splitlines()[1:]]
    if case.interactions:
        lines += ["", "Interactions"]
        for i in case.interactions:
            refs = [r.value for r in case.references if r.interaction_id == i.id]
            who = i.agent_name or "agent not noted"
            if i.agent_id:
                who += f" (id {i.agent_id})"
            head = f"  {format_local(i.at)}  {i.channel} {'out' if i.direction == 'out' else 'in'}"
            if i.via:
                head += f" via {i.via}"
            head += f"  {who}"
            if i.duration_seconds:
                head += f"  {i.duration_seconds // 60} min"
            if refs:
                head += f"  ref {', '.join(refs)}"
            lines.append(head)
            if i.summary:
                lines.append(f"      {i.summary}")
    if case.notes:
        lines += ["", "Notes"]
        for n in case.notes:
            body = n.body.splitlines() or [""]
            lines.append(f"  {format_local(n.created_at)}  {body[0]}")
            lines += [f"                    {line}" for line in body[1:]]
    lines += ["", "Timeline"]
    rows = []
    for e in sorted(case.events, key=lambda e: (e.at, e.id)):
        kind = e.type.replace("_", " ")
        summary = e.summary
        if e.type in ("promise_made", "follow_up_set") and e.data.get("due_at"):
            summary += f" (due {format_local(datetime.fromisoformat(e.data['due_at']))})"
        if was_undone(e):
            kind += " (undone)"
        rows.append([format_local(e.at), kind, _clip(summary, 100)])
    lines += ["  " + line for line in table(["", "", ""], rows).splitlines()[1:]]
    return "\n".join(lines)


DUE_KINDS = {
    "follow_up": "follow-up",
    "promise": "company promise",
    "my_promise": "my promise",
    "threshold": "threshold",
}


def due_table(items: Sequence[Any], now: datetime, *, aligned: bool) -> str:
    headers = ["DUE AT", "DUE", "CASE", "TITLE", "KIND", "WHAT"]
    rows = []
    for item in items:
        rows.append(
            [
                format_local(item.due_at),
                due_text(item.due_at, now),
                str(item.case_id),
                _clip(item.case_title, 30) if aligned else item.case_title,
                DUE_KINDS.get(item.kind, item.kind.replace("_", " ")),
                f"{item.text}. Next: {item.suggestion}" if item.suggestion else item.text,
            ]
        )
    return table(headers, rows, aligned=aligned)
