"""docs/schemas/ describes every --json output, and every real output fits its schema.

Each command with --json has docs/schemas/<command words joined by ->.json (`case show` ->
case-show.json), which refers to the shared objects in docs/schemas/definitions.json. The
objects we own are closed (additionalProperties / unevaluatedProperties false) and list
their keys as required, so a renamed, retyped or new key fails here until the schema says
it. A new command: add its schema file (a plain write is one line: `{"$ref":
"definitions.json#/$defs/write"}`) and run it in tests/test_json_writes.py's story() or
reads(); a new event type: its payload in definitions.json's event_payloads and an if/then
in event.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from test_json_writes import UNCOVERED, Script, json_commands, reads, story

from tracker import vocabulary
from tracker.history import CORRECTION_TARGETS, PAYLOAD_TYPES
from tracker.search import SOURCES
from tracker.views.case import PROMISE_STATES, PUBLIC_NAMES

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"
SHARED = "definitions.json"


def schema_name(command: str) -> str:
    return command.replace(" ", "-") + ".json"


@cache
def registry() -> Registry[Any]:
    """Every schema file by its name: a command's "definitions.json#/..." resolves here."""
    resources = [
        (path.name, Resource.from_contents(_load(path), default_specification=DRAFT202012))
        for path in SCHEMAS.glob("*.json")
    ]
    return Registry().with_resources(resources)  # type: ignore[no-any-return]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def validator(command: str) -> Draft202012Validator:
    schema = _load(SCHEMAS / schema_name(command))
    return Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def check(command: str, data: Any) -> None:
    errors = sorted(validator(command).iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, f"{command} --json does not fit {schema_name(command)}: " + "; ".join(
        f"at {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}"
        for e in errors[:5]
    )


def definitions() -> dict[str, Any]:
    defs: dict[str, Any] = _load(SCHEMAS / SHARED)["$defs"]
    return defs


# --------------------------------------------------------------------------- the files


def test_every_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    files = sorted(SCHEMAS.glob("*.json"))
    assert len(files) > 1
    for path in files:
        schema = _load(path)
        assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema", path.name
        Draft202012Validator.check_schema(schema)


def test_every_json_command_has_a_schema_and_every_schema_a_command() -> None:
    expected = {schema_name(command) for command in json_commands()}
    present = {path.name for path in SCHEMAS.glob("*.json")} - {SHARED}
    assert not expected - present, f"write a schema in docs/schemas/: {sorted(expected - present)}"
    assert not present - expected, f"schemas of no --json command: {sorted(present - expected)}"


def test_every_reference_resolves() -> None:
    """A $ref to a definition that is not there fails at validation only when reached:
    resolve them all here."""

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for path in SCHEMAS.glob("*.json"):
        resolver = registry().resolver(base_uri=path.name)
        for target in refs(_load(path)):
            resolver.lookup(target)  # raises if unresolvable


def test_dates_are_checked_not_only_documented() -> None:
    """Without rfc3339-validator, jsonschema would take any text as a date-time."""
    checker = Draft202012Validator.FORMAT_CHECKER
    assert checker.conforms("2026-11-26T14:00:00+00:00", "date-time")
    assert not checker.conforms("2026-11-26 14:00", "date-time")
    assert not checker.conforms("2026-02-30T14:00:00+00:00", "date-time")


def test_the_event_variants_are_the_payloads_of_tracker_history() -> None:
    """Each event type's schema lists exactly what its payload shows (Payload.public)."""
    event = definitions()["event"]
    variants = {
        rule["if"]["properties"]["type"]["const"]: rule["then"]["$ref"].rsplit("/", 1)[-1]
        for rule in event["allOf"]
    }
    payloads = definitions()["event_payloads"]["$defs"]
    types = {t: cls for cls in PAYLOAD_TYPES for t in cls.TYPES}
    assert set(event["properties"]["type"]["enum"]) == set(types) == set(variants), (
        "every event type of tracker/history.py needs its payload in docs/schemas/definitions.json"
    )
    for event_type, cls in types.items():
        shown = payloads[variants[event_type]]
        fields = [f for f in dataclasses.fields(cls) if f.name not in cls.PRIVATE]
        names = {PUBLIC_NAMES.get(f.name, f.name) for f in fields}
        required = {
            PUBLIC_NAMES.get(f.name, f.name)
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        assert set(shown.get("properties", {})) == names, event_type
        assert set(shown.get("required", [])) == required, event_type


def test_the_schemas_choices_are_the_vocabulary() -> None:
    defs = definitions()
    pairs = {
        "category": vocabulary.CATEGORIES,
        "status": vocabulary.STATUSES,
        "level": vocabulary.LEVELS,
        "channel": vocabulary.CHANNELS,
        "direction": vocabulary.DIRECTIONS,
        "reference_kind": vocabulary.REFERENCE_KINDS,
        "promise_party": vocabulary.PROMISE_PARTIES,
        "promise_status": vocabulary.PROMISE_STATUSES,
        "follow_up_status": vocabulary.FOLLOW_UP_STATUSES,
        "contact_kind": vocabulary.CONTACT_KINDS,
    }
    for name, words in pairs.items():
        assert defs[name]["enum"] == list(words), name
    assert defs["promise_counts"]["required"] == list(PROMISE_STATES)
    assert defs["correction_target"]["enum"] == list(CORRECTION_TARGETS)
    kinds = defs["search_hit"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted({source.kind for source in SOURCES})


# --------------------------------------------------------------------------- the real outputs


def test_every_json_output_fits_its_schema(tracker: Tracker, tmp_path: Path) -> None:
    run = Script(tracker)
    story(run, tmp_path)
    reads(run)
    missing = set(json_commands()) - set(run.outputs) - UNCOVERED
    assert not missing, f"run these with --json in test_json_writes.story() or reads(): {missing}"
    for command, outputs in run.outputs.items():
        for data in outputs:
            check(command, data)


@pytest.mark.backends("sqlite")
def test_backup_install_and_snooze_fit_their_schemas(
    tracker: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Script(tracker)
    run("case", "open", "Lost card")
    run("db", "backup", str(tmp_path / "copy.db"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    run("daemon", "install")
    # snooze CASE needs a reminder shown first.
    tracker.ok("case", "follow-up", "1", "now", "Ring them")
    tracker.ok("remind", "check", "--notifier", "console")
    run("snooze", "1", "tomorrow")
    assert set(run.outputs) >= UNCOVERED
    for command, outputs in run.outputs.items():
        for data in outputs:
            check(command, data)


@pytest.mark.backends("sqlite")
def test_a_renamed_retyped_or_new_key_fails(tracker: Tracker, tmp_path: Path) -> None:
    """The schemas are strict where it matters: real outputs, each changed in one way."""
    run = Script(tracker)
    story(run, tmp_path)
    reads(run)
    shown = run.outputs["case show"][-1]
    contact = run.outputs["case contact"][0]

    def fails(command: str, data: Any, change: Any) -> None:
        changed = copy.deepcopy(data)
        change(changed)
        with pytest.raises(AssertionError):
            check(command, changed)

    check("case show", shown)
    fails("case show", shown, lambda d: d.update(closed_on=d.pop("closed_at")))  # renamed
    fails("case show", shown, lambda d: d.update(opened_at="2026-11-26 14:00"))  # not UTC ISO
    fails("case show", shown, lambda d: d.update(opened_at="2026-02-30T14:00:00+00:00"))
    fails("case show", shown, lambda d: d.update(id=str(d["id"])))  # retyped
    fails("case show", shown, lambda d: d.update(amount=float(d["amount"])))  # not exact
    fails("case show", shown, lambda d: d["promises"][0].update(extra=1))  # new key
    fails("case show", shown, lambda d: d["promises"][0].pop("overdue"))  # gone
    fails("case show", shown, lambda d: d["events"][0].update(surprise="x"))  # event key
    fails("case show", shown, lambda d: d.update(status="pending"))  # not a case status
    fails("case contact", contact, lambda d: d["created"]["promises"][0].pop("due_at"))
    fails("case contact", contact, lambda d: d.update(created={"promises": []}))  # empty kind
    fails("case contact", contact, lambda d: d["case"].update(time_zone="UTC"))  # detail key
    fails("case contact", contact, lambda d: d.pop("change_id"))
    fails("due", run.outputs["due"][0], lambda d: d[0].update(overdue="yes"))
    fails("org list", run.outputs["org list"][0], lambda d: d[0].update(contact_points=[]))
    fails("undo", run.outputs["undo"][0], lambda d: d.pop("reverted_change_id"))
    escalated = run.outputs["case escalate"][0]
    fails("case escalate", escalated, lambda d: d["events"][0].pop("previous_level"))  # payload
    fails("case escalate", escalated, lambda d: d["events"][0].update(level="boss"))
    # A kind this version cannot show is listed by its table, with ids only.
    unknown = copy.deepcopy(contact)
    unknown["changed"]["tags"] = [{"id": 3}]
    check("case contact", unknown)
    fails("case contact", unknown, lambda d: d["changed"]["tags"][0].update(name="x"))
    with pytest.raises(ValidationError):
        validator("case show").validate(contact)
