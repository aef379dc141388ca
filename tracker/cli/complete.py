"""Shell completion of values: case ids with their titles, organizations, tags, the words.

Completers are attached by convention, once a command group is loaded
(tracker.cli.LazyGroup.get_command calls :func:`attach`), so a new command gets completion
by naming its parameters as the others do:

- by the parameter's name (the Python name): ``case_id`` (case ids, with their titles),
  ``promise_id``, ``follow_up_id``, ``interaction_id`` / ``contact_id``, ``note_id``,
  ``attachment_id``,
  ``organization`` / ``org`` (and ``name`` in the ``org`` group), ``tag`` / ``tags``,
  ``category``, ``channel``, ``status``, ``level``;
- else by its type: an id type (tracker.cli.common.IdType) by what it names (``case``,
  ``promise``, ``follow-up``, ``interaction``, ``note``), a choice type by its words.

A parameter given its own ``shell_complete`` keeps it. Completion reads the store through a
read-only connection, never creates, migrates or writes one, and a missing or unreadable
store (or one without the table asked for: tags) completes nothing, silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from tracker.config import store_location
from tracker.vocabulary import CATEGORIES, CHANNELS, LEVELS, STATUSES

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

Completer = Callable[[click.Context, click.Parameter, str], list["CompletionItem"]]

LIMIT = 50  # ids offered at most: the most relevant (active, recent) first


# --------------------------------------------------------------------------- the store


def _rows(ctx: click.Context, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """The rows of one query on the store the command line names (--db, TRACKER_DB,
    TRACKER_HOME), read-only; [] when there is no store or the query fails."""
    try:
        url = store_location(ctx.find_root().params.get("db_url"))[0]
        # SQLAlchemy comes with it: only when a value is completed from the store.
        from tracker.db import connect_sqlite, sqlite_path

        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path is None or not path.is_file():
                return []
            conn = connect_sqlite(path, readonly=True)
            try:
                return list(conn.execute(sql, params or {}).fetchall())
            finally:
                conn.close()
        return _server_rows(url, sql, params or {})
    except Exception:  # completion never fails loudly: no suggestions instead
        return []


def _server_rows(url: str, sql: str, params: dict[str, Any]) -> list[Any]:
    from sqlalchemy import text

    from tracker.db import Store

    store = Store(url, migrate=False)
    try:
        with store.read() as session:
            return list(session.execute(text(sql), params).all())
    finally:
        store.dispose()


# --------------------------------------------------------------------------- completers


def _item(value: str, help: str | None = None) -> CompletionItem:
    from click.shell_completion import CompletionItem

    return CompletionItem(value, help=help)


def _clip(text: str | None, width: int = 60) -> str:
    words = " ".join(str(text or "").split())
    return words if len(words) <= width else words[: width - 1] + "…"


def _id_prefix(incomplete: str) -> str | None:
    """The digits typed so far ("#1" is 1), or None if they cannot start an id."""
    text = incomplete.strip().lstrip("#")
    if text == "":
        return text
    ok = text.isascii() and text.isdigit() and not text.startswith("0") and len(text) <= 10
    return text if ok else None


def _starting_with(prefix: str) -> str:
    """SQL: the id's digits start with `prefix`, as ranges the primary key finds (1, 10-19,
    100-199, ...) rather than a text match over every row."""
    if not prefix:
        return "1 = 1"
    n = int(prefix)
    ranges = [(n * 10**k, (n + 1) * 10**k - 1) for k in range(11 - len(prefix))]
    return "(" + " OR ".join(f"id BETWEEN {lo} AND {hi}" for lo, hi in ranges) + ")"


def ids_of(table: str, describe: str, first: tuple[str, str] | None = None) -> Completer:
    """Ids of `table` starting with what is typed, each described by the SQL `describe`:
    those matching `first` (a condition, and its order) first, then the newest."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        prefix = _id_prefix(incomplete)
        if prefix is None:
            return []
        ids = _starting_with(prefix)
        select = f"SELECT id, {describe} FROM {table} WHERE"
        if first is None:
            rows = _rows(ctx, f"{select} {ids} ORDER BY id DESC LIMIT {LIMIT}")
        elif prefix:
            # A few ids at most per digit typed, found by the primary key, then sorted.
            where, order = first
            rows = _rows(
                ctx,
                f"{select} {ids} ORDER BY CASE WHEN {where} THEN 0 ELSE 1 END, {order} "
                f"LIMIT {LIMIT}",
            )
        else:
            # Nothing typed: the first ones by their index, then the newest of the others.
            where, order = first
            rows = _rows(ctx, f"{select} {where} ORDER BY {order} LIMIT {LIMIT}")
            if len(rows) < LIMIT:
                rows += _rows(
                    ctx,
                    f"{select} NOT ({where}) ORDER BY id DESC LIMIT {LIMIT - len(rows)}",
                )
        return [_item(str(row[0]), _clip(" ".join(str(v) for v in row[1:] if v))) for row in rows]

    return complete


ON_THE_CASE = "'case ' || CAST(case_id AS TEXT) || ':'"
CASES = ids_of(
    "cases",
    "title, '(' || status || ')'",
    ("status IN ('open', 'waiting', 'escalated')", "last_activity_at DESC, id DESC"),
)
PROMISES = ids_of(
    "promises",
    f"{ON_THE_CASE}, text, '(' || status || ')'",
    ("status = 'pending'", "due_at, id"),
)
FOLLOW_UPS = ids_of(
    "follow_ups",
    f"{ON_THE_CASE}, text, '(' || status || ')'",
    ("status = 'pending'", "due_at, id"),
)
INTERACTIONS = ids_of("interactions", f"{ON_THE_CASE}, channel, agent_name, summary")
NOTES = ids_of("notes", f"{ON_THE_CASE}, body")
ATTACHMENTS = ids_of("attachments", f"{ON_THE_CASE}, kind, filename")


def _starting(incomplete: str, values: Iterable[tuple[str, str | None]]) -> list[Any]:
    typed = incomplete.casefold()
    return [_item(v, h) for v, h in values if v.casefold().startswith(typed)]


def organizations(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    rows = _rows(ctx, "SELECT name, country FROM organizations ORDER BY name LIMIT 1000")
    return _starting(incomplete, ((str(n), str(c) if c else None) for n, c in rows))


def tags(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Tags in use, the most used first; for `untag`, the case's own tags. A store without
    the tags table has none."""
    case_id = ctx.params.get("case_id")
    if ctx.info_name == "untag" and isinstance(case_id, int):
        rows = _rows(
            ctx,
            "SELECT tag, COUNT(*) FROM tags WHERE case_id = :case GROUP BY tag ORDER BY tag",
            {"case": case_id},
        )
    else:
        rows = _rows(ctx, "SELECT tag, COUNT(*) FROM tags GROUP BY tag ORDER BY 2 DESC, 1")
    return _starting(incomplete, ((str(t), f"{n} case{'s' if n != 1 else ''}") for t, n in rows))


def words(choices: Sequence[str]) -> Completer:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        return _starting(incomplete, ((c, None) for c in choices))

    return complete


# --------------------------------------------------------------------------- the convention

# A parameter's (Python) name -> its completer.
BY_NAME: dict[str, Completer] = {
    "case_id": CASES,
    "promise_id": PROMISES,
    "follow_up_id": FOLLOW_UPS,
    "interaction_id": INTERACTIONS,
    "contact_id": INTERACTIONS,
    "note_id": NOTES,
    "attachment_id": ATTACHMENTS,
    "organization": organizations,
    "org": organizations,
    "tag": tags,
    "tags": tags,
    "category": words(CATEGORIES),
    "channel": words(CHANNELS),
    "status": words(STATUSES),
    "level": words(LEVELS),
}
# Within one group, names that mean more: `org show NAME`.
BY_GROUP_NAME: dict[tuple[str, str], Completer] = {("org", "name"): organizations}
# What an id type names (tracker.cli.common.IdType.what) -> its completer.
BY_ID_KIND: dict[str, Completer] = {
    "case": CASES,
    "promise": PROMISES,
    "follow-up": FOLLOW_UPS,
    "follow_up": FOLLOW_UPS,
    "interaction": INTERACTIONS,
    "contact": INTERACTIONS,
    "note": NOTES,
}


def completer_for(param: click.Parameter, group: str | None) -> Completer | None:
    """The completer the convention gives `param` (of a command in `group`), if any."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return None  # Click completes its words itself
    choices = getattr(kind, "choices", None)
    if isinstance(choices, tuple | list) and all(isinstance(c, str) for c in choices):
        return words(tuple(choices))
    name = param.name or ""
    found = BY_GROUP_NAME.get((group or "", name)) or BY_NAME.get(name)
    if found is None:
        what = getattr(kind, "what", None)
        found = BY_ID_KIND.get(what) if isinstance(what, str) else None
    return found


def attach(command: click.Command, group: str | None = None) -> None:
    """Give every parameter of `command` and of its subcommands its completer (once)."""
    if getattr(command, "_tracker_completion", False):
        return
    command._tracker_completion = True  # type: ignore[attr-defined]
    for param in command.params:
        if param._custom_shell_complete is None:
            param._custom_shell_complete = completer_for(param, group)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            attach(sub, command.name)


# --------------------------------------------------------------------------- the shells


def _bash_quoted(value: str) -> str:
    # Bash puts a completion on the line as it is: a space or a quote must be escaped
    # there ("American Express"); zsh and fish quote what they insert themselves. Click's
    # bash script reads each line with `read` (no -r), which takes one level of backslashes
    # away: hence two.
    escaped = re.sub(r"([^\w@%+=:,./-])", r"\\\1", value)
    return escaped.replace("\\", "\\\\")


def register_shells() -> None:
    """Bash completion that escapes what it inserts (called only when a shell asks)."""
    from click.shell_completion import BashComplete, add_completion_class

    class QuotingBash(BashComplete):
        def format_completion(self, item: CompletionItem) -> str:
            if item.type == "plain":
                return f"{item.type},{_bash_quoted(item.value)}"
            return super().format_completion(item)

    add_completion_class(QuotingBash, "bash")
