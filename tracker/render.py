"""Terminal output: the case table, the case report with its timeline, the due list.

Plain text, aligned; no colour library (start-up cost). Times are shown in local time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tracker.cases import promise_state
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


def when_text(at: datetime, now: datetime) -> str:
    return f"{format_local(at)} ({humanize_delta(at - now)})"


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
        ("Resolved", format_local(case.resolved_at) if case.resolved_at else None),
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
            rows.append(
                [
                    f"#{p.id}",
                    state.upper() if state == "overdue" else state,
                    "company" if p.promised_by == "company" else "me",
                    f"due {when_text(p.due_at, now)}",
                    p.text,
                ]
            )
        lines += ["  " + line for line in table(["", "", "", "", ""], rows).splitlines()[1:]]
    pending_follow_ups = [f for f in case.follow_ups if f.status == "pending"]
    if pending_follow_ups:
        lines += ["", "Follow-ups"]
        rows = [[f"#{f.id}", when_text(f.due_at, now), f.text or ""] for f in pending_follow_ups]
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
        rows.append([format_local(e.at), e.type.replace("_", " "), _clip(e.summary, 90)])
    lines += ["  " + line for line in table(["", "", ""], rows).splitlines()[1:]]
    return "\n".join(lines)


def due_table(items: Sequence[Any], now: datetime, *, aligned: bool) -> str:
    headers = ["WHEN", "", "CASE", "KIND", "WHAT"]
    rows = []
    for item in items:
        rows.append(
            [
                format_local(item.due_at),
                humanize_delta(item.due_at - now),
                f"{item.case_id} {_clip(item.case_title, 30)}",
                item.kind.replace("_", " "),
                item.text,
            ]
        )
    return table(headers, rows, aligned=aligned)
