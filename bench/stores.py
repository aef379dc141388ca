"""Realistic stores of 1k to 100k cases, written by the services or copied from their rows.

Calling the services 100 000 times would take most of an hour, so a store is made in two
steps:

1. *Templates*: a few hundred cases are written through the real services (tracker.cases,
   and tracker.directory for the American Express directory in examples/), each with its own
   story drawn from the word lists below: an organization, a category and a title that fits
   it, agents, reference numbers, summaries, notes, promises (kept, broken, or left pending
   and some of those overdue), follow-ups, escalations, resolutions. *Finished* templates
   end resolved or closed; *active* ones end at an age of a few days to a year, open,
   waiting or escalated.
2. *Copies*: case k of N gets an opening time (the N cases are spread over three years,
   ending now, oldest first) and a template that fits its age; the template's rows are
   inserted with new ids (and the ids inside each event's data moved with them), every time
   shifted by the same amount, its reference numbers and account digits replaced by fresh
   ones, in big SQLAlchemy Core executemany batches. So every row is one the services wrote,
   with the same types and JSON, and `tracker case show` of a copy reads like a real case.

About one case in ten is active: those opened in the last four months mostly are, older ones
rarely (a long dispute at the regulator). The rest are history, as in a real store that has
been used for years.

Stores are cached under bench/.stores (gitignored), keyed by size, seed, GEN_VERSION and the
schema revision (a store made before a migration would be migrated on every benchmark run).
"""

from __future__ import annotations

import bisect
import json
import random
import shutil
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select

from tracker import cases as svc
from tracker.db import Store
from tracker.models import SCHEMA_REVISION, Base, Promise
from tracker.redact import Masker

GEN_VERSION = 1
ROOT = Path(__file__).resolve().parent
STORES = ROOT / ".stores"
EXAMPLES = ROOT.parent / "examples"

T0 = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)  # templates are written at this (fake) time
SPAN = timedelta(days=3 * 365)  # a store's cases were opened over three years, up to now
RECENT = timedelta(days=120)  # cases opened this recently are mostly still active
ACTIVE_IF_RECENT = 0.75
ACTIVE_IF_OLD = 0.02
CASES_PER_BATCH = 4000  # cases per write transaction while copying

# --------------------------------------------------------------------------- word lists
# fmt: off

# name, country, reference prefixes, phone line
ORGS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("American Express", "US", ("CALL-", "D-", "CMP-"), "1-800-528-2122"),
    ("Chase", "US", ("CH", "DSP-"), "1-800-935-9935"),
    ("Bank of America", "US", ("BA-", "CLM-"), "1-800-432-1000"),
    ("Citibank", "US", ("CITI-", "REF"), "1-800-950-5114"),
    ("Capital One", "US", ("C1-", "DSP"), "1-800-227-4825"),
    ("Wells Fargo", "US", ("WF", "CASE-"), "1-800-869-3557"),
    ("Delta Air Lines", "US", ("DL-", "CR"), "1-800-221-1212"),
    ("United Airlines", "US", ("UA", "FB-"), "1-800-864-8331"),
    ("Comcast Xfinity", "US", ("XF-", "TKT"), "1-800-934-6489"),
    ("Verizon", "US", ("VZ", "TT-"), "1-800-922-0204"),
    ("British Gas", "GB", ("BG-", "CMP"), "0333 202 9802"),
    ("Barclaycard", "GB", ("BC", "REF-"), "0800 151 0900"),
    ("Lufthansa", "DE", ("LH-", "PIR"), "+49 69 86 799 799"),
    ("Booking.com", "NL", ("BK", "RES-"), "+31 20 712 5609"),
    ("Amazon", "US", ("AMZ-", "CS"), "1-888-280-4331"),
]
MERCHANTS = [
    "ACME Hardware", "Blue Bottle Coffee", "Hotel Lisboa Centro", "CityCab", "Sunrise Electronics",
    "Green Grocer", "Metro Fitness", "Skyline Parking", "Luna Furniture", "QuickFlix Streaming",
    "Harbor Seafood", "Northwind Outfitters", "Pixel Phone Repair", "Cedar Dental", "Gas & Go",
]
CITIES = ["Lisbon", "Rome", "Chicago", "Berlin", "Toronto", "Madrid", "Osaka", "Denver", "Paris"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September"]
AGENTS = [
    "Maria", "James", "Priya", "Tom", "Aisha", "Carlos", "Mei", "Daniel", "Fatima", "Oliver",
    "Sofia", "Kwame", "Elena", "Raj", "Hannah", "Luis", "Yuki", "Grace", "Ahmed", "Nina",
]
TITLES = {
    "dispute": ["Disputed charge at {merchant}", "Charged twice at {merchant}",
                "Refund from {merchant} never posted", "Unknown charge from {merchant}"],
    "lost_stolen": ["Card lost in {city}", "Wallet stolen in {city}",
                    "Card kept by an ATM in {city}"],
    "rewards": ["Rewards points missing for the {month} statement",
                "Welcome bonus not credited", "Points transfer to airline failed"],
    "personal_info": ["Update the mailing address", "Name change after marriage",
                      "Phone number on file is wrong"],
    "benefits": ["Travel insurance claim for {city} trip", "Purchase protection for {merchant}",
                 "Lounge access denied in {city}"],
    "payment": ["Autopay took the payment twice", "Late fee charged for the {month} payment",
                "Payment not credited"],
    "application": ["Card application pending for weeks", "Credit limit increase request"],
    "complaint": ["Rude treatment on the phone", "Complaint about repeated dropped calls",
                  "Complaint: promised callback never came"],
    "card_replacement": ["Damaged card replacement", "Replacement card never arrived"],
    "other": ["Question about the annual fee", "Close the old account", "Statement copy for taxes"],
}
CATEGORY_WEIGHTS = {
    "dispute": 30, "lost_stolen": 8, "rewards": 10, "personal_info": 5, "benefits": 8,
    "payment": 12, "application": 4, "complaint": 8, "card_replacement": 6, "other": 9,
}
SUMMARIES = [
    "Explained the charge; agent opened an investigation",
    "Agent confirmed the dispute is open and the charge is on hold",
    "Asked for the merchant's receipt; sent it by secure message",
    "Was transferred twice, then disconnected",
    "Agent said the refund was issued on their side",
    "Supervisor reviewed the case and agreed to a goodwill credit",
    "They need a written statement; will send it by mail",
    "Chat agent could not see the earlier notes",
    "Confirmed my address and the card's last digits",
    "Agent promised a callback within two business days",
    "New card ordered, express shipping",
    "They asked for photos of the damaged item",
]
NOTES = [
    "Statement shows the charge twice, see the {month} statement.",
    "Merchant says they refunded on the 14th; nothing on my side yet.",
    "Kept the confirmation email from the merchant.",
    "Hold time was 45 minutes this time.",
    "Letter received, dated last week; says they need 30 more days.",
    "Checked the account online: the credit is still pending.",
    "Sent the documents by registered mail, tracking number in the folder.",
    "The app shows the dispute as closed but nobody told me.",
    "Called the merchant directly, they say talk to the bank.",
    "Remember to ask for the reference number every time.",
]
# What the company promises, by category (any other category: GENERAL_PROMISES).
GENERAL_PROMISES = ["Written answer by mail", "Supervisor calls back", "Callback within two days"]
COMPANY_PROMISES = {
    "dispute": ["Provisional credit posts to the account", "Callback from the disputes team",
                "Refund issued to the card", "Written answer about the dispute"],
    "lost_stolen": ["Replacement card delivered", "Fraud team calls back"],
    "card_replacement": ["Replacement card delivered", "Express shipping refunded"],
    "rewards": ["Points credited to the account", "Callback from the rewards team"],
    "payment": ["Late fee reversed", "Payment traced and credited"],
    "benefits": ["Claim decision by mail", "Claim form sent by email"],
}
MY_PROMISES = ["Send the receipt", "Mail the signed dispute form", "Upload photos in the app"]
FOLLOW_UPS = [
    "Check the statement for the credit",
    "Call again if no letter arrives",
    "Check whether the card arrived",
    None,
]
OUTCOMES = [
    "Credit of {amount} posted",
    "Charge reversed after the merchant's reply",
    "Points credited",
    "New card received",
    "Late fee refunded",
    "Claim paid",
    "Nothing to be done; accepted",
]
CHANNELS = ["phone"] * 10 + ["chat"] * 4 + ["app"] * 2 + ["email"] * 2 + ["mail", "social"]
# fmt: on


# --------------------------------------------------------------------------- templates


@dataclass
class Template:
    """One case written by the services, ready to be copied."""

    active: bool
    age: timedelta  # active: how long after opening "now" was; finished: its whole length
    refs: list[str]
    last4: str | None
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> rows


def _ref(rng: random.Random, prefixes: tuple[str, ...]) -> str:
    return f"{rng.choice(prefixes)}{rng.randint(10000, 99999999)}"


def _story(rng: random.Random, session: Any, masker: Masker, active: bool) -> Template:
    """Write one case through the services; returns its template (rows filled in later)."""
    name, _country, prefixes, phone = rng.choice(ORGS)
    category = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
    merchant = rng.choice(MERCHANTS)
    fill = {"merchant": merchant, "city": rng.choice(CITIES), "month": rng.choice(MONTHS)}
    title = rng.choice(TITLES[category]).format(**fill)
    amount = Decimal(rng.randint(500, 250000)) / 100 if category in ("dispute", "payment") else None
    if active:
        # Mostly young; a few long-running ones at the complaint or regulator rung.
        days = rng.uniform(1, 120) if rng.random() < 0.85 else rng.uniform(120, 400)
    else:
        days = rng.uniform(2, 90)
    end = T0 + timedelta(days=days)
    last4 = f"{rng.randint(0, 9999):04d}" if rng.random() < 0.7 else None
    refs: list[str] = []

    def new_ref() -> str:
        refs.append(_ref(rng, prefixes))
        return refs[-1]

    first_refs = [new_ref()] if rng.random() < 0.4 else []
    case = svc.open_case(
        session,
        title=title,
        masker=masker,
        organization=name,
        category=category,
        account_last4=last4,
        amount=amount,
        currency="USD" if amount is not None else None,
        merchant=merchant if category == "dispute" else None,
        transaction_date=(T0 - timedelta(days=rng.randint(3, 40))).date()
        if category == "dispute"
        else None,
        refs=first_refs,
        note=rng.choice(NOTES).format(**fill) if rng.random() < 0.5 else None,
        follow_up=T0 + timedelta(days=rng.randint(2, 7)) if rng.random() < 0.3 else None,
        now=T0,
    )
    # The steps after opening, in time order, each at a moment before `end`.
    contacts = rng.choice((1, 2, 2, 3))
    moments = sorted(T0 + (end - T0) * rng.uniform(0.05, 0.95) for _ in range(contacts + 2))
    escalate_at = moments[-1] if rng.random() < 0.3 else None
    pending: list[tuple[int, datetime]] = []  # (promise id, due)
    for i, at in enumerate(moments):
        # Promises whose due time has passed are kept or broken now, or left pending.
        for promise_id, due in list(pending):
            if due + timedelta(days=1) <= at:
                pending.remove((promise_id, due))
                fate = rng.random()
                if fate < 0.85:
                    status = "kept" if fate < 0.6 else "broken"
                    svc.set_promise_status(session, promise_id, status, now=due + timedelta(days=1))
        if at == escalate_at and case.status in ("open", "waiting", "escalated"):
            level = "supervisor" if case.escalation_level == "frontline" else None
            if days > 120 and case.escalation_level == "frontline":
                level = rng.choice(("complaint", "regulator"))
            if level is not None:
                svc.escalate(
                    session,
                    case,
                    masker=masker,
                    to=level,
                    note=f"Asked for a {level}: " + rng.choice(SUMMARIES).lower(),
                    now=at,
                )
            continue
        if i < contacts:
            channel = rng.choice(CHANNELS)
            spoken = channel in ("phone", "chat")
            promise = None
            if rng.random() < 0.6:
                promise = rng.choice(COMPANY_PROMISES.get(category, GENERAL_PROMISES))
                by = "company"
            elif rng.random() < 0.2:
                promise = rng.choice(MY_PROMISES)
                by = "me"
            promise_due = at + timedelta(days=rng.randint(2, 14)) if promise else None
            interaction = svc.log_interaction(
                session,
                case,
                channel=channel,
                masker=masker,
                at=at,
                direction="out" if rng.random() < 0.85 else "in",
                via=phone if channel == "phone" else None,
                agent_name=rng.choice(AGENTS) if spoken else None,
                agent_id=str(rng.randint(1000, 99999)) if spoken and rng.random() < 0.4 else None,
                duration=timedelta(minutes=rng.randint(4, 70)) if spoken else None,
                refs=[new_ref()] if rng.random() < 0.7 else [],
                summary=rng.choice(SUMMARIES),
                promise=promise,
                promise_due=promise_due,
                promised_by=by if promise else "company",
                now=at,
            )
            if promise and promise_due is not None:
                made = select(Promise.id).where(Promise.interaction_id == interaction.id)
                pending.append((session.scalar(made), promise_due))
        elif rng.random() < 0.7:
            svc.add_note(session, case, rng.choice(NOTES).format(**fill), masker=masker, now=at)
        elif case.status in ("open", "waiting", "escalated"):
            svc.set_follow_up(
                session,
                case,
                at + timedelta(days=rng.randint(2, 10)),
                rng.choice(FOLLOW_UPS),
                masker=masker,
                now=at,
            )
    if not active:
        outcome = rng.choice(OUTCOMES).format(amount=amount or "25.00")
        svc.resolve(session, case, masker=masker, outcome=outcome, now=end)
        if rng.random() < 0.4:
            svc.close(session, case, now=end + timedelta(days=rng.randint(3, 10)))
    span = (max(case.last_activity_at, end) if not active else end) - T0
    return Template(active=active, age=span, refs=refs, last4=last4)


Rows = dict[str, list[dict[str, Any]]]


def make_templates(folder: Path, count: int, seed: int) -> tuple[list[Template], Rows]:
    """`count` template cases in a fresh store in `folder` (two in five of them active), and
    the rows every copy shares (organizations and their contact points)."""
    from tracker.directory import import_directory, load_directory

    for stale in folder.glob("templates.db*"):
        stale.unlink()
    store = Store(f"sqlite:///{folder / 'templates.db'}")
    rng = random.Random(seed)
    masker = Masker()
    templates: list[Template] = []
    with store.write() as session:
        import_directory(session, load_directory(EXAMPLES / "directory" / "american-express.toml"))
        for i in range(count):
            templates.append(_story(rng, session, masker, active=i % 5 < 2))
    tables = list(Base.metadata.sorted_tables)
    with store.read() as session:
        rows = {t.name: [dict(r._mapping) for r in session.execute(select(t))] for t in tables}
    store.dispose()
    by_case: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for name, table_rows in rows.items():
        grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in table_rows:
            if "case_id" in row and name != "reminders":
                grouped[row["case_id"]].append(row)
        by_case[name] = grouped
    changes = {row["id"]: row for row in rows["changes"]}
    for case_id, template in enumerate(templates, 1):
        template.rows = {
            name: by_case[name].get(case_id, [])
            for name in ("interactions", "reference_numbers", "promises", "follow_ups", "notes")
        }
        template.rows["cases"] = [r for r in rows["cases"] if r["id"] == case_id]
        events = by_case["events"][case_id]
        template.rows["events"] = events
        template.rows["changes"] = [changes[i] for i in sorted({e["change_id"] for e in events})]
    shared = {"organizations": rows["organizations"], "contact_points": rows["contact_points"]}
    return templates, shared


# --------------------------------------------------------------------------- copies

# Order of insertion: parents first.
COPY_TABLES = (
    "cases",
    "changes",
    "interactions",
    "reference_numbers",
    "promises",
    "follow_ups",
    "notes",
    "events",
)
# Columns that point at a row copied with the case, per table.
FOREIGN = {
    "interactions": {"case_id": "cases"},
    "reference_numbers": {"case_id": "cases", "interaction_id": "interactions"},
    "promises": {"case_id": "cases", "interaction_id": "interactions"},
    "follow_ups": {"case_id": "cases"},
    "notes": {"case_id": "cases"},
    "events": {"case_id": "cases", "change_id": "changes"},
}
DATA_IDS = {"promise_id": "promises", "follow_up_id": "follow_ups"}


def _shift_json(value: Any, delta: timedelta, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _shift_json(v, delta, k) for k, v in value.items()}
    if isinstance(value, str) and key.endswith("_at"):
        return (datetime.fromisoformat(value) + delta).isoformat()
    return value


class Copier:
    """Hands out new ids and turns a template's rows into case k's rows."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_id: dict[str, int] = defaultdict(lambda: 1)

    def copy(self, template: Template, opened_at: datetime) -> dict[str, list[dict[str, Any]]]:
        delta = opened_at - T0
        days = timedelta(days=delta.days)
        ids: dict[str, dict[int, int]] = {}
        for name in COPY_TABLES:
            mapping = {}
            for row in template.rows[name]:
                mapping[row["id"]] = self.next_id[name]
                self.next_id[name] += 1
            ids[name] = mapping
        # Fresh reference numbers and account digits: each copy reads as its own case.
        swaps = {
            old: f"{old.rstrip('0123456789')}{self.rng.randint(10000, 99999999)}"
            for old in template.refs
        }
        out: dict[str, list[dict[str, Any]]] = {}
        for name in COPY_TABLES:
            links = FOREIGN.get(name, {})
            rows = []
            for row in template.rows[name]:
                new = dict(row)
                new["id"] = ids[name][row["id"]]
                for column, target in links.items():
                    if new[column] is not None:
                        new[column] = ids[target][new[column]]
                for column, value in row.items():
                    if isinstance(value, datetime):
                        new[column] = value + delta
                    elif isinstance(value, date) and column == "transaction_date":
                        new[column] = value + days
                if name == "events":
                    new["data"] = self._event_data(row["data"], ids, delta, swaps)
                    new["summary"] = _swap(row["summary"], swaps)
                elif name == "reference_numbers":
                    new["value"] = swaps.get(row["value"], row["value"])
                elif name == "cases" and row["account_last4"] is not None:
                    new["account_last4"] = f"{self.rng.randint(0, 9999):04d}"
                rows.append(new)
            out[name] = rows
        return out

    @staticmethod
    def _event_data(
        data: dict[str, Any],
        ids: dict[str, dict[int, int]],
        delta: timedelta,
        swaps: dict[str, str],
    ) -> dict[str, Any]:
        new: dict[str, Any] = _shift_json(data, delta)
        # Organizations were made once, up front: no copy created one.
        new.pop("created_organization", None)
        if "created" in new:
            table, row_id = new["created"]
            new["created"] = [table, ids[table][row_id]]
        for key, table in DATA_IDS.items():
            if key in new:
                new[key] = ids[table][new[key]]
        if isinstance(new.get("reference"), str):
            new["reference"] = _swap(new["reference"], swaps)
        return new


def _swap(text_: str, swaps: dict[str, str]) -> str:
    for old, new in swaps.items():
        if old in text_:
            text_ = text_.replace(old, new)
    return text_


def plan(n: int, now: datetime, seed: int) -> Iterator[tuple[datetime, bool]]:
    """(opening time, active?) of cases 1..n, oldest first."""
    rng = random.Random(seed * 7919 + n)
    start = now - SPAN
    for k in range(n):
        opened = start + (SPAN - timedelta(days=1)) * ((k + rng.random()) / n)
        recent = now - opened <= RECENT
        yield opened, rng.random() < (ACTIVE_IF_RECENT if recent else ACTIVE_IF_OLD)


def pick(
    templates: list[Template], ages: list[float], active: bool, age: timedelta, rng: random.Random
) -> Template | None:
    """A template that fits a case of this age: an active one no older than the case (so that
    nothing it did lies in the future), or a finished one that ended before now."""
    limit = bisect.bisect_right(ages, age.total_seconds())
    if limit == 0:
        return None
    if not active:
        return templates[rng.randrange(limit)]
    # An active case of this age tells a story about this long: one of the templates
    # between half its age and its age (at least a handful of them, for variety).
    low = min(bisect.bisect_left(ages, age.total_seconds() / 2), max(0, limit - 6))
    return templates[rng.randrange(low, limit)]


def generate(path: Path, n: int, *, seed: int = 1, template_count: int = 400) -> dict[str, Any]:
    """Write a store of `n` cases at `path`; returns what it holds."""
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    work = path.parent / f"templates-{seed}"
    work.mkdir(exist_ok=True)
    templates, shared = make_templates(work, template_count, seed)
    pools = {
        flag: sorted((t for t in templates if t.active == flag), key=lambda t: t.age)
        for flag in (True, False)
    }
    ages = {flag: [t.age.total_seconds() for t in pool] for flag, pool in pools.items()}
    by_name: dict[str, Table] = {t.name: t for t in Base.metadata.sorted_tables}
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    copier = Copier(rng)
    store = Store(f"sqlite:///{path}")
    counts: dict[str, int] = defaultdict(int)
    active_cases = 0
    with store.write() as session:
        for name in ("organizations", "contact_points"):
            session.execute(insert(by_name[name]), shared[name])
            counts[name] = len(shared[name])
    batch: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def flush() -> None:
        with store.write() as session:
            for name in COPY_TABLES:
                if batch[name]:
                    session.execute(insert(by_name[name]), batch[name])
                    counts[name] += len(batch[name])
        batch.clear()

    for k, (opened, active) in enumerate(plan(n, now, seed), 1):
        age = now - opened
        template = pick(pools[active], ages[active], active, age, rng)
        if template is None:  # too young to be finished: it is still active
            active = True
            template = pick(pools[True], ages[True], True, age, rng)
        if template is None:  # younger than every story: opened as late as the youngest
            template = pools[True][0]
            opened = min(opened, now - template.age)
        active_cases += active
        for name, rows in copier.copy(template, opened).items():
            batch[name].extend(rows)
        if k % CASES_PER_BATCH == 0:
            flush()
    flush()
    store.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.rmtree(work)
    info = {
        "cases": n,
        "active_cases": active_cases,
        "rows": dict(counts),
        "events_per_case": round(counts["events"] / n, 2),
        "generated_at": now.isoformat(),
        "generated_in_s": round(time.perf_counter() - started, 1),
        "seed": seed,
        "gen_version": GEN_VERSION,
        "size_mb": round(path.stat().st_size / 1e6, 1),
    }
    path.with_suffix(".json").write_text(json.dumps(info, indent=2))
    return info


def cached_store(n: int, *, seed: int = 1, log: Any = print) -> tuple[Path, dict[str, Any]]:
    """The cached store of `n` cases (generated on first use)."""
    path = STORES / f"cases-{n}-s{seed}-v{GEN_VERSION}-r{SCHEMA_REVISION}.db"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())
    log(f"generating a store of {n} cases (cached in {path.parent}) ...")
    info = generate(path, n, seed=seed)
    log(f"  {info['rows']['events']} events, {info['size_mb']} MB, {info['generated_in_s']} s")
    return path, info


def working_copy(path: Path, folder: Path) -> Path:
    """A copy to run write commands on, so the cached store stays as generated."""
    target = folder / path.name
    for stale in folder.glob(path.name + "*"):
        stale.unlink()
    shutil.copyfile(path, target)
    return target


def sample_case(path: Path, *, active: bool = True) -> int:
    """A case in the middle of the store (an active one by default), for show and note."""
    with sqlite3.connect(path) as conn:
        total = conn.execute("SELECT max(id) FROM cases").fetchone()[0]
        where = "status IN ('open', 'waiting', 'escalated')" if active else "1"
        row = conn.execute(
            f"SELECT id FROM cases WHERE {where} AND id >= ? ORDER BY id LIMIT 1", (total // 2,)
        ).fetchone()
    return int(row[0])


# --------------------------------------------------------------------------- Taskwarrior


def _tw_time(value: str | None) -> str | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def taskwarrior_json(path: Path, target: Path) -> dict[str, int]:
    """The same cases as Taskwarrior tasks, for `task import`: one task per case.

    description = title, project = organization, tag = category, status pending for an
    active case and completed otherwise, due = its earliest pending promise or follow-up,
    and one annotation per note and per contact summary (3 to 5 a case; Taskwarrior keeps no
    other history).
    """
    import uuid

    conn = sqlite3.connect(path)
    notes: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for case_id, at, body in conn.execute("SELECT case_id, created_at, body FROM notes"):
        notes[case_id].append((at, body))
    for case_id, at, summary in conn.execute(
        "SELECT case_id, at, summary FROM interactions WHERE summary IS NOT NULL"
    ):
        notes[case_id].append((at, summary))
    due: dict[int, str] = {}
    for case_id, at in conn.execute(
        "SELECT case_id, min(due_at) FROM (SELECT case_id, due_at FROM promises WHERE "
        "status = 'pending' UNION ALL SELECT case_id, due_at FROM follow_ups WHERE "
        "status = 'pending') GROUP BY case_id"
    ):
        due[case_id] = at
    pending = completed = 0
    rng = random.Random(5)
    with target.open("w") as out:
        out.write("[\n")
        rows = conn.execute(
            "SELECT c.id, c.title, o.name, c.category, c.status, c.opened_at, "
            "c.updated_at, coalesce(c.closed_at, c.resolved_at) FROM cases c "
            "LEFT JOIN organizations o ON o.id = c.organization_id ORDER BY c.id"
        )
        for i, (case_id, title, org, category, status, opened, updated, ended) in enumerate(rows):
            active = status in ("open", "waiting", "escalated")
            task: dict[str, Any] = {
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "description": title,
                "status": "pending" if active else "completed",
                "entry": _tw_time(opened),
                "modified": _tw_time(updated),
                "tags": [category],
            }
            if org:
                task["project"] = org.replace(" ", "").replace(".", "")
            if not active:
                task["end"] = _tw_time(ended or updated)
            if active and case_id in due:
                task["due"] = _tw_time(due[case_id])
            task["annotations"] = [
                {"entry": _tw_time(at), "description": body.replace("\n", " ")}
                for at, body in sorted(notes.get(case_id, []))
            ]
            pending += active
            completed += not active
            out.write(("," if i else "") + json.dumps(task) + "\n")
        out.write("]\n")
    conn.close()
    return {"pending": pending, "completed": completed}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Generate (or find) the cached stores.")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    for size in (int(s) for s in options.sizes.split(",")):
        where, about = cached_store(size, seed=options.seed)
        print(where, json.dumps(about))
