"""Peak memory of `tracker export csv` on large generated stores (not a timed test).

    .venv/bin/python bench/export_memory.py                 # 10k and 100k cases
    .venv/bin/python bench/export_memory.py --sizes 1000 --keep /tmp/bench

For each size it generates a SQLite store of N cases with 11 events each, then runs
`tracker --db URL export csv -o /dev/null` in a child process and reports its peak resident
set size, read with getrusage(RUSAGE_CHILDREN) in a small wrapper process (the number
`/usr/bin/time -v` prints as "Maximum resident set size"). A baseline run exports one case
from the same store, so the difference is what the history itself costs; streaming keeps
it flat. `export json` is measured too.

The store is generated without calling the services 100 000 times: one case is made with
the real services (open with an organization, a reference, a note and a follow-up; a phone
contact with a reference and a promise; the promise kept; an escalation with a note; the
resolution), its rows are read back, and N copies of them are bulk-inserted with ids, the
ids inside each event's data, and times shifted. So every row is one the services wrote.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from tracker import cases as svc
from tracker.db import Store
from tracker.export import TABLE_ORDER, chunked, column_kind, tables
from tracker.redact import Masker

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STEP = timedelta(seconds=90)  # between one copied case and the next: histories interleave
CHUNK = 5000

Rows = dict[str, list[dict[str, Any]]]


def make_template(folder: Path) -> Rows:
    """One case's rows, written by the real services."""
    for stale in folder.glob("template.db*"):
        stale.unlink()
    store = Store(f"sqlite:///{folder / 'template.db'}")
    masker = Masker()
    with store.write() as session:
        case = svc.open_case(
            session,
            title="Disputed charge at ACME Hardware",
            masker=masker,
            organization="American Express",
            category="dispute",
            account_last4="1005",
            amount=Decimal("129.99"),
            currency="USD",
            merchant="ACME Hardware",
            refs=["D-4471"],
            note="Statement shows the charge twice, see the March statement.",
            follow_up=T0 + timedelta(days=3),
            now=T0,
        )
        svc.log_interaction(
            session,
            case,
            channel="phone",
            masker=masker,
            via="1-800-528-2122",
            agent_name="Maria",
            agent_id="4471",
            duration=timedelta(minutes=23),
            refs=["CALL-88812"],
            summary="Dispute opened; charge removed pending review",
            promise="Provisional credit posts to the account",
            promise_due=T0 + timedelta(days=14),
            now=T0 + timedelta(hours=1),
        )
        promise_id = case.promises[0].id
    with store.write() as session:
        svc.set_promise_status(session, promise_id, "kept", now=T0 + timedelta(days=10))
    with store.write() as session:
        case = svc.get_case(session, 1)
        svc.escalate(
            session,
            case,
            masker=masker,
            to="supervisor",
            note="Asked for a supervisor, callback promised",
            now=T0 + timedelta(days=11),
        )
    with store.write() as session:
        svc.resolve(
            session,
            svc.get_case(session, 1),
            masker=masker,
            outcome="Credit of 129.99 posted",
            now=T0 + timedelta(days=12),
        )
    rows: Rows = {}
    with store.read() as session:
        for table in tables():
            rows[table.name] = [dict(r._mapping) for r in session.execute(select(table))]
    store.dispose()
    return rows


def _shift_data(data: dict[str, Any], offsets: dict[str, int], k: int) -> dict[str, Any]:
    out = dict(data)
    if "due_at" in out:
        out["due_at"] = (datetime.fromisoformat(out["due_at"]) + STEP * k).isoformat()
    if "created" in out:
        table, row_id = out["created"]
        out["created"] = [table, row_id + offsets[table] * k]
    for key, table in (("promise_id", "promises"), ("follow_up_id", "follow_ups")):
        if key in out:
            out[key] = out[key] + offsets[table] * k
    if k:
        out.pop("created_organization", None)  # only the first case created the organization
    return out


def copies(template: Rows, table_name: str, n: int) -> Any:
    """The table's rows for cases 1..n: template rows with ids, references and times moved."""
    table = next(t for t in tables() if t.name == table_name)
    offsets = {name: max((r["id"] for r in rows), default=0) for name, rows in template.items()}
    refs = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys}
    times = [c.name for c in table.columns if column_kind(c) == "datetime"]
    per_case = table_name != "organizations"
    for k in range(n if per_case else 1):
        for row in template[table_name]:
            new = dict(row)
            new["id"] = row["id"] + offsets[table_name] * k
            for column, target in refs.items():
                if new[column] is not None and target != "organizations":
                    new[column] += offsets[target] * k
            for column in times:
                if new[column] is not None:
                    new[column] += STEP * k
            if table_name == "events":
                new["data"] = _shift_data(row["data"], offsets, k)
            yield new


def generate(url: str, template: Rows, n: int) -> None:
    store = Store(url)
    with store.write() as session:
        for table in tables():
            for chunk in chunked(copies(template, table.name, n), CHUNK):
                session.execute(insert(table), chunk)
    store.dispose()


# Linux carries a process's peak RSS across exec: a child forked from this process, which
# holds the template and SQLAlchemy, would report at least our own size. So a small Python
# process starts the command and reports its own child's peak (RUSAGE_CHILDREN).
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n"
)


def peak_rss(args: list[str]) -> tuple[int, float, int]:
    """(peak RSS in KiB, seconds, exit code) of one run of `args`."""
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    rss, code = run.stdout.split()
    if int(code):
        sys.stderr.write(run.stderr)
    return int(rss), seconds, int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", type=Path, help="Keep the generated stores in this folder.")
    options = parser.parse_args()
    folder = options.keep or Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    template = make_template(folder)
    per_case = len(template["events"])
    print(
        f"template: {per_case} events per case; rows per case: "
        + ", ".join(f"{name} {len(template[name])}" for name in TABLE_ORDER if template[name])
    )
    print(f"{'cases':>8} {'events':>9} {'db MB':>7} {'command':<28} {'peak RSS':>9} {'time':>7}")
    for n in options.sizes:
        path = folder / f"store-{n}.db"
        if not path.exists():
            started = time.perf_counter()
            generate(f"sqlite:///{path}", template, n)
            print(f"(generated {n} cases in {time.perf_counter() - started:.0f} s)")
        tracker = [sys.executable, "-m", "tracker", "--db", f"sqlite:///{path}"]
        runs = {
            "export csv --case 1": [*tracker, "export", "csv", "--case", "1", "-o", "/dev/null"],
            "export csv": [*tracker, "export", "csv", "-o", "/dev/null"],
            "export json": [*tracker, "export", "json", "-o", "/dev/null"],
        }
        for label, args in runs.items():
            rss, seconds, code = peak_rss(args)
            if code:
                sys.exit(f"{label} failed with exit code {code}")
            size = path.stat().st_size / 1e6
            print(
                f"{n:>8} {n * per_case:>9} {size:>7.0f} {label:<28} "
                f"{rss / 1024:>6.1f} MB {seconds:>6.1f}s"
            )
    if options.keep is None:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
