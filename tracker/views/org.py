"""The directory: organizations and their contact points, as text or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.advice import point_details
from tracker.directory import OrganizationRow, display_value, ordered_points
from tracker.models import ContactPoint, Organization
from tracker.views import base
from tracker.views.base import echo, emit_json, table
from tracker.views.case import iso


def contact_point_dict(point: ContactPoint) -> dict[str, Any]:
    return {
        "id": point.id,
        "kind": point.kind,
        "value": point.value,
        "display": display_value(point),
        "label": point.label,
        "region": point.region,
        "hours": point.hours,
        "collect_calls": point.collect_calls,
        "categories": point.categories.split(),
        "level": point.level,
        "notes_text": point.notes,
        "position": point.position,
    }


def organization_dict(
    org: Organization, *, cases: int, active_cases: int, points: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": org.id,
        "name": org.name,
        "country": org.country,
        "website": org.website,
        "notes_text": org.notes,
        "created_at": iso(org.created_at),
        "updated_at": iso(org.updated_at),
        "case_count": cases,
        "active_case_count": active_cases,
    }
    if points:
        out["contact_points"] = [contact_point_dict(p) for p in ordered_points(org)]
    return out


def organization_report(found: Organization, cases: int, active: int) -> str:
    lines = [found.name]
    facts = [
        ("Country", found.country),
        ("Website", found.website),
        ("Cases", f"{cases} ({active} active)"),
        ("Notes", found.notes),
    ]
    lines += [f"  {label:<8} {value}" for label, value in facts if value]
    level = None
    for point in ordered_points(found):
        if point.level != level:
            level = point.level
            lines += ["", level.capitalize()]
        lines.append(f"  {point.kind:<7} {display_value(point)}")
        details = point_details(point)
        categories = point.categories.split()
        details.append("any category" if "any" in categories else "for: " + ", ".join(categories))
        lines.append(f"          {'; '.join(details)}")
        if point.notes:
            lines.append(f"          {point.notes}")
    if not found.contact_points:
        lines += ["", "No contact points. Import them: tracker org import FILE"]
    return "\n".join(lines)


def organization_table(rows: Sequence[OrganizationRow], *, aligned: bool) -> str:
    return table(
        ["NAME", "COUNTRY", "CONTACT POINTS", "CASES", "WEBSITE"],
        [
            [
                r.organization.name,
                r.organization.country or "-",
                str(r.contact_points),
                f"{r.cases} ({r.active_cases} active)",
                r.organization.website or "-",
            ]
            for r in rows
        ],
        aligned=aligned,
        fit=(0, 4),  # name, website
    )


class Text:
    def organizations(self, rows: Sequence[OrganizationRow]) -> None:
        if not rows:
            echo(
                "No organizations. Import some: tracker org import FILE",
                err=not base.stdout_is_tty(),
            )
            return
        echo(organization_table(rows, aligned=base.stdout_is_tty()))

    def organization(self, org: Organization, cases: int, active: int) -> None:
        echo(organization_report(org, cases, active))


class Json:
    def organizations(self, rows: Sequence[OrganizationRow]) -> None:
        emit_json(
            [
                organization_dict(
                    r.organization, cases=r.cases, active_cases=r.active_cases, points=False
                )
                | {"contact_point_count": r.contact_points}
                for r in rows
            ]
        )

    def organization(self, org: Organization, cases: int, active: int) -> None:
        emit_json(organization_dict(org, cases=cases, active_cases=active))
