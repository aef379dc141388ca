"""The directory: organizations, their contact points, and which one suits a case.

Phone numbers are stored in E.164 form (``+18005282122``): one canonical spelling, so that
re-importing a file that writes ``1-800-528-2122`` or ``+1 (800) 528-2122`` finds the same
contact point instead of adding a twin, and so that the readable form (``+1 800-528-2122``)
is whatever the installed `phonenumbers` says at display time. `phonenumbers` is imported
only inside the functions that parse or format a number: it costs start-up time, and
`case open` imports this module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from tracker.config import Settings, settings
from tracker.errors import NotFound, UsageError
from tracker.models import Case, ContactPoint, Organization, utcnow
from tracker.redact import Masker
from tracker.values import optional_text, parse_region, required_text
from tracker.vocabulary import ACTIVE_STATUSES, CATEGORIES, CONTACT_KINDS, LEVELS
from tracker.when import Calendar, calendar_for

ORG_KEYS = {"name", "country", "subdivision", "website", "notes", "contact"}
CONTACT_KEYS = {
    "kind",
    "value",
    "label",
    "region",
    "hours",
    "collect_calls",
    "categories",
    "level",
    "notes",
}

MAX_NAME = 200


# --------------------------------------------------------------------------- identity


def organization_key(name: str) -> str:
    """How organizations are matched: ignoring case and runs of white space."""
    return " ".join(name.split()).casefold()


def find_organization(session: Session, name: str) -> Organization | None:
    key = organization_key(name)
    return session.scalars(select(Organization).where(Organization.name_key == key)).one_or_none()


def ensure_organization(
    session: Session, name: str, masker: Masker, *, now: datetime | None = None
) -> tuple[Organization, bool]:
    """The organization of that name, created if new: (organization, created).

    The one way an organization comes into being (`case open --org`, `org add`, a directory
    file), so every name is checked and masked the same way.
    """
    cleaned = required_text(name, "the organization name", masker, limit=MAX_NAME)
    found = find_organization(session, cleaned)
    if found is not None:
        return found, False
    now = now or utcnow()
    org = Organization(
        name=cleaned, name_key=organization_key(cleaned), created_at=now, updated_at=now
    )
    session.add(org)
    session.flush()
    return org, True


# --------------------------------------------------------------------------- jurisdiction


def region_of(
    country: str | None, subdivision: str | None = None, *, mine: Settings | None = None
) -> tuple[str | None, str | None]:
    """Whose rules and holidays apply: the organization's country (and part), else the
    user's from the config file (`mine`: the settings, read once by a caller doing many
    cases), else none."""
    if country:
        return country, subdivision
    mine = mine or settings()
    return mine.country, mine.subdivision


def case_region(case: Case) -> tuple[str | None, str | None]:
    org = case.organization
    return region_of(org.country if org else None, org.subdivision if org else None)


def calendar_of(country: str | None, subdivision: str | None = None) -> Calendar:
    """The business-day calendar for an organization of that country (see region_of)."""
    return calendar_for(*region_of(country, subdivision))


def case_calendar(case: Case) -> Calendar:
    return calendar_for(*case_region(case))


def abroad_of(flag: bool | None, country: str | None, *, mine: Settings | None = None) -> bool:
    """Whether the user is abroad for a case: its own flag, else whether the user's country
    (config file; `mine` as for region_of) differs from the organization's."""
    if flag is not None:
        return flag
    home = (mine or settings()).country
    return bool(home and country and home != country)


def case_abroad(case: Case) -> bool:
    return abroad_of(case.abroad, case.organization.country if case.organization else None)


# --------------------------------------------------------------------------- phone numbers


def normalize_phone(text: str, country: str | None) -> str:
    """``text`` in E.164 form; UsageError if it is not a valid number.

    A number without ``+`` is read as a number of ``country`` (the organization's).
    """
    import phonenumbers

    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise UsageError(
                f"cannot tell the country of phone number '{text}': write it as +<country "
                "code> ..., or give the organization a country"
            ) from None
        why = {
            phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
            phonenumbers.NumberParseException.TOO_LONG: "too long",
        }.get(exc.error_type, "not a phone number")
        raise UsageError(f"invalid phone number '{text}': {why}") from None
    if not phonenumbers.is_valid_number(number):
        raise UsageError(f"invalid phone number '{text}': no such number in its numbering plan")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def format_phone(e164: str) -> str:
    """``+18005282122`` -> ``+1 800-528-2122``; anything unreadable is shown as stored."""
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def load_phone_metadata(regions: Iterable[str]) -> None:
    """Import phonenumbers with the numbering plans of `regions` (it reads each region's on
    its first number): the command server does, before it forks its workers."""
    import phonenumbers

    for region in regions:
        phonenumbers.example_number(region)


def display_value(point: ContactPoint, *, sep: str = ", ") -> str:
    """The value as a person reads it: a formatted number, an address on one line."""
    if point.kind == "phone":
        return format_phone(point.value)
    return sep.join(line.strip() for line in point.value.splitlines() if line.strip())


# --------------------------------------------------------------------------- reading a file


@dataclass(frozen=True)
class ContactSpec:
    kind: str
    value: str
    label: str | None = None
    region: str | None = None
    hours: str | None = None
    collect_calls: bool = False
    categories: str = "any"
    level: str = "frontline"
    notes: str | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.kind, self.value, self.region)


@dataclass(frozen=True)
class OrganizationSpec:
    name: str
    country: str | None = None
    subdivision: str | None = None
    website: str | None = None
    notes: str | None = None
    contacts: tuple[ContactSpec, ...] = ()


def load_directory(
    path: str | os.PathLike[str], masker: Masker | None = None
) -> list[OrganizationSpec]:
    """Read and validate a directory file; UsageError (naming the file and entry) if bad.

    Everything is checked before anything is stored, so a bad entry imports nothing. Every
    text passes the card-number masker, as typed text does.
    """
    import tomllib

    shown = os.fspath(path)
    try:
        if shown == "-":  # standard input
            shown = "standard input"
            data = tomllib.loads(sys.stdin.buffer.read().decode("utf-8"))
        else:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{shown} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{shown} is not valid TOML: it is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read {shown}: {exc.strerror or exc}") from None
    unknown = set(data) - {"organization"}
    if unknown:
        raise UsageError(
            f"{shown}: unknown key {_names(unknown)}; a directory file holds "
            "[[organization]] tables"
        )
    orgs = data.get("organization")
    if not isinstance(orgs, list) or not orgs:
        raise UsageError(f"{shown}: no [[organization]] table found")
    specs: list[OrganizationSpec] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(orgs, start=1):
        where = f"{shown}: organization {number}"
        spec = _masked(_organization(raw, where), masker or Masker())
        key = organization_key(spec.name)
        if key in seen:
            raise UsageError(f"{where} ({spec.name}) repeats organization {seen[key]}")
        seen[key] = number
        specs.append(spec)
    return specs


def _masked(spec: OrganizationSpec, masker: Masker) -> OrganizationSpec:
    """Every text of the entry masked (kind, level and categories are checked choices)."""
    name = masker(spec.name, "an organization's name")
    where = f"the directory entry {name!r}"
    contacts = tuple(
        replace(
            c,
            value=masker(c.value, f"a contact point of {where}"),
            label=masker(c.label, f"a contact label of {where}"),
            region=masker(c.region, f"a contact region of {where}"),
            hours=masker(c.hours, f"contact hours of {where}"),
            notes=masker(c.notes, f"contact notes of {where}"),
        )
        for c in spec.contacts
    )
    return replace(
        spec,
        name=name,
        website=masker(spec.website, f"the website of {where}"),
        notes=masker(spec.notes, f"the notes of {where}"),
        contacts=contacts,
    )


def _names(keys: Iterable[str]) -> str:
    return ", ".join(f"'{k}'" for k in sorted(keys))


def _string(raw: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise UsageError(f"{where}: '{key}' is missing")
        return None
    if not isinstance(value, str):
        raise UsageError(f"{where}: '{key}' must be a string")
    value = value.strip()
    if not value and required:
        raise UsageError(f"{where}: '{key}' must not be empty")
    return value or None


def _organization(raw: Any, where: str) -> OrganizationSpec:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: must be a table")
    unknown = set(raw) - ORG_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key {_names(unknown)}; use {_names(ORG_KEYS)}")
    name = _string(raw, "name", where, required=True)
    assert name is not None
    where = f"{where} ({name})"
    region = parse_region(_string(raw, "country", where), where)
    country, subdivision = region if region else (None, None)
    sub = _string(raw, "subdivision", where)
    if sub is not None:
        if country is None:
            raise UsageError(f"{where}: 'subdivision' needs a 'country'")
        found = parse_region(f"{country}-{sub}", where)
        subdivision = found[1] if found else None
    contacts_raw = raw.get("contact", [])
    if not isinstance(contacts_raw, list):
        raise UsageError(
            f"{where}: 'contact' must be an array of tables ([[organization.contact]])"
        )
    contacts: list[ContactSpec] = []
    seen: dict[tuple[str, str, str | None], int] = {}
    for number, item in enumerate(contacts_raw, start=1):
        spec = _contact(item, f"{where}, contact {number}", country)
        if spec.key in seen:
            raise UsageError(
                f"{where}, contact {number} repeats contact {seen[spec.key]} "
                "(same kind, value and region)"
            )
        seen[spec.key] = number
        contacts.append(spec)
    return OrganizationSpec(
        name=name,
        country=country,
        subdivision=subdivision,
        website=_string(raw, "website", where),
        notes=_string(raw, "notes", where),
        contacts=tuple(contacts),
    )


def _contact(raw: Any, where: str, country: str | None) -> ContactSpec:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: must be a table")
    unknown = set(raw) - CONTACT_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key {_names(unknown)}; use {_names(CONTACT_KEYS)}")
    kind = (_string(raw, "kind", where, required=True) or "").lower()
    if kind not in CONTACT_KINDS:
        raise UsageError(
            f"{where}: unknown kind '{raw['kind']}'; choose one of: {', '.join(CONTACT_KINDS)}"
        )
    value = _string(raw, "value", where, required=True) or ""
    where = f"{where} ({kind} '{' '.join(value.split())}')"
    if kind == "phone":
        try:
            value = normalize_phone(value, country)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    else:
        # Keep an address's lines, lose stray indentation and blank lines.
        value = "\n".join(line.strip() for line in value.splitlines() if line.strip())
    level = (_string(raw, "level", where) or "frontline").lower()
    if level not in LEVELS:
        raise UsageError(f"{where}: unknown level '{level}'; choose one of: {', '.join(LEVELS)}")
    collect = raw.get("collect_calls", False)
    if not isinstance(collect, bool):
        raise UsageError(f"{where}: 'collect_calls' must be true or false")
    return ContactSpec(
        kind=kind,
        value=value,
        label=_string(raw, "label", where),
        region=_string(raw, "region", where),
        hours=_string(raw, "hours", where),
        collect_calls=collect,
        categories=_categories(raw.get("categories", ["any"]), where),
        level=level,
        notes=_string(raw, "notes", where),
    )


def _categories(raw: Any, where: str) -> str:
    items = raw.split() if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise UsageError(f"{where}: 'categories' must be a list of strings")
    allowed = (*CATEGORIES, "any")
    out: list[str] = []
    for item in items:
        name = item.strip().lower().replace("-", "_")
        if name not in allowed:
            raise UsageError(
                f"{where}: unknown category '{item}'; choose from: {', '.join(allowed)}"
            )
        if name not in out:
            out.append(name)
    return " ".join(out) or "any"


# --------------------------------------------------------------------------- storing


@dataclass
class ImportResult:
    """What importing one organization did."""

    name: str
    created: bool
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # points in the store that the file does not list
    removed: int = 0
    organization_updated: bool = False


_POINT_FIELDS = ("label", "hours", "collect_calls", "categories", "level", "notes")


def import_directory(
    session: Session, specs: Sequence[OrganizationSpec], *, prune: bool = False
) -> list[ImportResult]:
    """Create or update each organization and its contact points; never duplicates.

    Organizations match by name (case-insensitively), contact points by (kind, value,
    region). A point the file does not list is kept, or deleted with ``prune``.
    """
    results: list[ImportResult] = []
    now = utcnow()
    for spec in specs:
        # The names were masked when the file was read (load_directory).
        org, created = ensure_organization(session, spec.name, Masker(), now=now)
        result = ImportResult(name=spec.name, created=created)
        for name in ("name", "country", "subdivision", "website", "notes"):
            value = getattr(spec, name)
            if value is not None and getattr(org, name) != value:
                setattr(org, name, value)
                result.organization_updated = True
        if result.organization_updated or result.created:
            org.updated_at = now
        session.flush()
        existing = {(p.kind, p.value, p.region): p for p in org.contact_points}
        listed = set()
        for position, contact in enumerate(spec.contacts):
            listed.add(contact.key)
            point = existing.get(contact.key)
            if point is None:
                session.add(
                    ContactPoint(
                        organization_id=org.id,
                        kind=contact.kind,
                        value=contact.value,
                        region=contact.region,
                        position=position,
                        **{name: getattr(contact, name) for name in _POINT_FIELDS},
                    )
                )
                result.added += 1
                continue
            changed = point.position != position
            point.position = position
            for name in _POINT_FIELDS:
                if getattr(point, name) != getattr(contact, name):
                    setattr(point, name, getattr(contact, name))
                    changed = True
            if changed:
                result.updated += 1
            else:
                result.unchanged += 1
        stale = [p for key, p in existing.items() if key not in listed]
        if prune and stale:
            session.execute(delete(ContactPoint).where(ContactPoint.id.in_([p.id for p in stale])))
            result.removed = len(stale)
        else:
            result.kept = len(stale)
        session.flush()
        session.expire(org, ["contact_points"])
        results.append(result)
    return results


def get_organization(session: Session, name: str) -> Organization:
    org = session.scalars(
        select(Organization)
        .where(Organization.name_key == organization_key(name))
        .options(selectinload(Organization.contact_points))
    ).one_or_none()
    if org is None:
        raise NotFound(f"no organization '{name}'")
    return org


def add_organization(
    session: Session,
    name: str,
    *,
    country: str | None = None,
    website: str | None = None,
    notes: str | None = None,
    masker: Masker | None = None,
) -> tuple[Organization, bool]:
    """Create the organization, or update the fields given; returns (org, created).

    ``country`` is an ISO 3166 code (``UK`` is read as ``GB``), optionally with the part of
    the country whose holidays count: ``GB-SCT``.
    """
    masker = masker or Masker()
    region = parse_region(country)
    website = optional_text(website, masker, what="the website", limit=500)
    notes = optional_text(notes, masker, what="the notes")
    now = utcnow()
    org, created = ensure_organization(session, name, masker, now=now)
    if region is not None:
        org.country, org.subdivision = region
    for attr, value in (("website", website), ("notes", notes)):
        if value is not None:
            setattr(org, attr, value)
    org.updated_at = now
    session.flush()
    return org, created


@dataclass(frozen=True)
class OrganizationRow:
    organization: Organization
    contact_points: int
    cases: int
    active_cases: int


def list_organizations(session: Session) -> list[OrganizationRow]:
    points = dict(
        session.execute(
            select(ContactPoint.organization_id, func.count()).group_by(
                ContactPoint.organization_id
            )
        ).all()
    )
    cases: dict[int, int] = {}
    active: dict[int, int] = {}
    for org_id, status, count in session.execute(
        select(Case.organization_id, Case.status, func.count())
        .where(Case.organization_id.is_not(None))
        .group_by(Case.organization_id, Case.status)
    ):
        if org_id is None:  # excluded above; says so to the type checker
            continue
        cases[org_id] = cases.get(org_id, 0) + count
        if status in ACTIVE_STATUSES:
            active[org_id] = active.get(org_id, 0) + count
    orgs = session.scalars(select(Organization).order_by(Organization.name_key)).all()
    return [
        OrganizationRow(o, points.get(o.id, 0), cases.get(o.id, 0), active.get(o.id, 0))
        for o in orgs
    ]


def case_counts(session: Session, org: Organization) -> tuple[int, int]:
    """(all cases, active cases) of the organization."""
    rows = session.execute(
        select(Case.status, func.count())
        .where(Case.organization_id == org.id)
        .group_by(Case.status)
    ).all()
    return (
        sum(count for _, count in rows),
        sum(count for status, count in rows if status in ACTIVE_STATUSES),
    )


def ordered_points(org: Organization) -> list[ContactPoint]:
    """The organization's points rung by rung, each rung in the directory's order."""
    return sorted(org.contact_points, key=lambda p: (_level_index(p.level), p.position, p.id))


def _level_index(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)
