"""Hypothesis edits a valid export at random places with hostile values: `tracker import json`
always answers with exit 0, 1 or 2 and one `Error:` line (never "unexpected failure"), and
what it accepts poisons nothing: the commands that read the whole store still work, and
`tracker undo` takes the import back out.

TRACKER_FUZZ_EXAMPLES sets the example count (default 100 per backend).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TRACKER_FUZZ_EXAMPLES", "100"))

HOSTILE: list[Any] = [
    None, "", " ", "\x00", "a\x00b", "\ud800", "\u2028", "\u202eevil", "=1+1", "+1", "@SUM(A1)",
    "bogus", "4111 1111 1111 1111", "CVV 123", "x" * 600, 0, -1, 1, 2, 3, 2**31 - 1, 2**31,
    2**63, -(2**63), 1.5, float("nan"), float("inf"), True, False, [], {}, [[[[["deep"]]]]],
    {"a": {"b": {"c": {"d": 1}}}}, ["cases", 1], ["notes", 1], ["promises", 1], ["events", 1],
    "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "2026-02-30T00:00:00+00:00", "2126-01-01T00:00:00+00:00", "1926-01-01T00:00:00+00:00",
    "9999-12-31", "0001-01-01", "2026-03-02", "1e999", "NaN", "-0", "0.00001", "1E+14",
    "1E+15", "USD", "usd", "EUR", "12a4", "1234", "open", "closed", "escalated", "regulator",
    "frontline", "company", "me", "kept", "pending", "fired", "phone", "fax", "in", "out",
    "other", "dispute", "any", "undone", "note", "opened", "imported", "reminder_fired",
    "promise_kept", "follow_up_set",
]  # fmt: skip
# Copies: a later edit may change a drawn dict or list in place.
VALUES = st.one_of(st.sampled_from(HOSTILE).map(copy.deepcopy), st.text(max_size=20), st.integers())
# Values of one JSON type, to replace a value of that type: more edits get past the types.
OF_TYPE: dict[type, st.SearchStrategy[Any]] = {
    str: st.one_of(st.sampled_from([v for v in HOSTILE if isinstance(v, str)]), st.text()),
    int: st.sampled_from([v for v in HOSTILE if type(v) is int]),
    bool: st.booleans(),
}


def _like(value: Any) -> st.SearchStrategy[Any]:
    return OF_TYPE.get(type(value), VALUES)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An export with a row in every table and every kind of event payload."""
    home = tmp_path_factory.mktemp("fuzz-source")
    url = f"sqlite:///{home / 'source.db'}"
    runner = Tracker()
    for args in (
        ("case", "open", "Disputed", "--org", "ACME", "--amount", "9.99", "--currency", "USD",
         "--account", "1005", "--ref", "R-1", "--note", "first", "--follow-up", "3d"),
        ("case", "contact", "1", "--channel", "phone", "--agent", "Jo", "--duration", "5m",
         "--ref", "C-1", "--promise", "Refund", "--due", "3d"),
        ("case", "promise", "1", "Send the form", "--due", "2d", "--by", "me"),
        ("promise", "kept", "1"),
        ("case", "escalate", "1", "--note", "slow"),
        ("case", "resolve", "1", "--outcome", "paid"),
        ("case", "reopen", "1"),
        ("case", "open", "Mistake"),
        ("undo",),
        ("remind", "check", "--notifier", "console"),
    ):  # fmt: skip
        runner.ok("--db", url, *args)
    doc: dict[str, Any] = json.loads(runner.ok("--db", url, "export", "json"))
    doc["tables"]["contact_points"].append(
        {
            "id": 1, "organization_id": 1, "kind": "phone", "value": "+18005282122",
            "label": "Disputes", "region": None, "hours": None, "collect_calls": False,
            "categories": "dispute", "level": "frontline", "notes": None, "position": 0,
        }
    )  # fmt: skip
    return doc


@st.composite
def edits(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """The document with one to four hostile edits."""
    edited: dict[str, Any] = json.loads(json.dumps(doc))
    tables = edited["tables"]
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from([name for name, rows in tables.items() if rows]))
        row = draw(st.sampled_from(tables[name]))
        action = draw(st.sampled_from(["set", "set", "data", "data", "drop", "copy"]))
        if action == "data" and name == "events":
            data = row["data"]
            key = draw(st.sampled_from([*data, "created", "case_before", "promise_id", "extra"]))
            if key == "case_before" and isinstance(data.get(key), dict) and draw(st.booleans()):
                inner = draw(st.sampled_from(["status", "amount", "closed_at", "updated_at"]))
                data[key] = {**data[key], inner: draw(VALUES)}
            else:
                data[key] = draw(_like(data.get(key)) if draw(st.booleans()) else VALUES)
        elif action == "drop":
            tables[name].remove(row)
        elif action == "copy":
            tables[name].append({**row, "id": draw(st.sampled_from([row["id"], 99, 2**31]))})
        else:
            column = draw(st.sampled_from(list(row)))
            row[column] = draw(_like(row[column]) if draw(st.booleans()) else VALUES)
    return edited


def _clean(tracker: Tracker, *args: str) -> int:
    result = tracker(*args)
    output = result.stdout + result.stderr
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, output[-2000:])
    assert "unexpected failure" not in output and "Traceback" not in output, (args, output[-2000:])
    if result.exit_code != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.stderr)
    return result.exit_code


def test_an_edited_export_is_imported_cleanly_or_refused_in_one_line(
    tracker: Tracker, backend: str, source: dict[str, Any], tmp_path: Path
) -> None:
    file = tmp_path / "edited.json"
    outcomes = {0: 0, 1: 0, 2: 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(edits(source))
    def run(doc: dict[str, Any]) -> None:
        file.write_text(json.dumps(doc), encoding="utf-8")
        code = _clean(tracker, "import", "json", str(file))
        outcomes[code] += 1
        if code != 0:
            assert tracker.json("case", "list", "--status", "all") == []
            return
        # Nothing the file held poisons the commands that read the whole store.
        for args in (
            ("due",),
            ("daemon", "status"),
            ("remind", "check", "--notifier", "console"),
            ("case", "list", "--status", "all"),
            ("export", "csv"),
            ("export", "ics"),
        ):
            assert _clean(tracker, *args) == 0, args
        for case in tracker.json("case", "list", "--status", "all"):
            assert _clean(tracker, "case", "show", str(case["id"])) == 0
        assert tracker.ok("undo").startswith("Undid the import of edited.json (")
        assert tracker.json("case", "list", "--status", "all") == []

    run()
    print(f"\n{backend}: {EXAMPLES} edited exports: {outcomes[0]} imported and undone, "
          f"{outcomes[2]} refused as bad files, {outcomes[1]} refused as conflicts")  # fmt: skip
    assert outcomes[2] > 0
