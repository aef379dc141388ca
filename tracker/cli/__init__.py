"""The `tracker` command: a thin shell over the library.

Command groups live in their own modules and are imported only when invoked, so that
`tracker --help` costs little more than importing Click.
"""

from __future__ import annotations

import gc
import importlib
import os
import re
import sys
from typing import Any

import click

from tracker import __version__
from tracker.cli import complete
from tracker.cli.app import App
from tracker.errors import CardLikeReference, CaseNotActive, TrackerError
from tracker.redact import mask, storable

# Start-up (BENCHMARKS.md): loading a command group and SQLAlchemy makes some 56,000 objects
# that the cyclic garbage collector tracks and that live as long as the process. It walks
# them again and again while they load, and once more at exit: 50-60 ms of a 300 ms
# `case note`. So the console script keeps it off until the command's module is loaded,
# then freezes what loaded (never collected from then on), and freezes everything at exit,
# once the engines are closed (their connections would otherwise stay open past the
# freeze, and SQLite would not fold its WAL back into the database file).
_FREEZE_AFTER_LOAD = False

# command name -> "module:attribute", loaded on first use.
COMMANDS = {
    "case": ("tracker.cli.case:case", "Open, note, contact, escalate and resolve cases."),
    "promise": (
        "tracker.cli.promise:promise",
        "Mark a promise kept, broken or cancelled; reschedule it.",
    ),
    "follow-up": (
        "tracker.cli.follow_up:follow_up",
        "Mark a follow-up done or cancelled; snooze it.",
    ),
    "snooze": ("tracker.cli.follow_up:snooze", "Remind me again later of a case's last reminders."),
    "due": ("tracker.cli.due:due", "What is due or overdue: follow-ups, promises, thresholds."),
    "undo": ("tracker.cli.due:undo", "Revert the last change."),
    "org": ("tracker.cli.org:org", "The directory of organizations and their contact points."),
    "daemon": ("tracker.cli.daemon:daemon", "The reminder daemon: run, status, install."),
    "remind": ("tracker.cli.daemon:remind", "One reminder pass, for cron."),
    "search": ("tracker.cli.search:search", "Find words and reference numbers in every case."),
    "export": ("tracker.cli.export:export", "Export history as CSV, JSON or iCalendar."),
    "import": ("tracker.cli.export:import_", "Import a JSON export, or emails."),
    "config": (
        "tracker.cli.config:config",
        "Your settings: name and address for letters, email, country, notifiers.",
    ),
    "db": ("tracker.cli.db:db", "Where the data lives; upgrade and back up the store."),
    "server": (
        "tracker.cli.server:server_group",
        "The command server that starts commands warm: status, stop.",
    ),
    "contact": ("tracker.cli.edit:contact", "Correct a recorded contact."),
    "call": ("tracker.cli.call:call", "A guided phone call, each answer saved as typed."),
    "log": ("tracker.cli.log:log", "Record a contact from one line in your own words."),
    "note": ("tracker.cli.edit:note", "Correct a note."),
}
# Modules that add subcommands to a group defined elsewhere, loaded with it.
EXTENSIONS = {
    "case": ("tracker.cli.edit", "tracker.cli.evidence", "tracker.cli.casefile"),
    "promise": ("tracker.cli.edit",),
    "import": ("tracker.cli.mail",),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used, not at start-up."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if args is None:
            args = sys.argv[1:]
        # Arguments that were not valid UTF-8 reach Python as lone surrogates, which no
        # store can encode: make them U+FFFD once, here, for every command.
        if any(isinstance(a, str) and (not a.isascii() or "\x00" in a) for a in args):
            args = [storable(a) if isinstance(a, str) else a for a in args]
        code = run_safely(
            lambda: super(LazyGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        for extension in EXTENSIONS.get(cmd_name, ()):
            importlib.import_module(extension)
        if _FREEZE_AFTER_LOAD:
            gc.freeze()
            gc.enable()
        command: click.Command = getattr(module, attr)
        complete.attach(command)  # shell completion of values, by the parameters' names
        return command

    def _main_shell_completion(
        self, ctx_args: Any, prog_name: str, complete_var: str | None = None
    ) -> None:
        name = prog_name.replace("-", "_").replace(".", "_")
        if os.environ.get(complete_var or f"_{name}_COMPLETE".upper()):
            complete.register_shells()  # only when a shell asks
        super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing commands must not import them: use the short help kept above.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    envvar=None,
    help="Database URL (overrides TRACKER_DB and TRACKER_HOME).",
)
@click.version_option(__version__, "--version", prog_name="tracker")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None) -> None:
    """Track customer-service cases: who said what, reference numbers, promises, follow-ups.

    \b
    Examples:
      tracker case open "Disputed charge at ACME" --org "American Express" --category dispute
      tracker case contact 1 --channel phone --agent Maria --ref CALL-88812 \\
          --promise "Provisional credit" --due 10bd
      tracker due
      tracker case show 1

    Data lives in TRACKER_DB (a database URL), else TRACKER_HOME/tracker.db, else the
    user data folder (see `tracker db path`).
    """
    ctx.obj = App(db_url)


def main(*, close_stores: bool = True) -> None:
    """The console script. `close_stores=False`: the caller closes the stores' connections
    itself (the command server's worker, once its client has the exit code: on SQLite the
    last close folds the WAL back into the database file, which the command has committed
    and synced already)."""
    global _FREEZE_AFTER_LOAD
    _FREEZE_AFTER_LOAD = True
    gc.disable()
    try:
        cli.main(prog_name="tracker")
    except KeyboardInterrupt:  # Ctrl-C outside a command (Click's own covers the rest)
        click.echo("\nError: aborted", err=True)
        sys.exit(1)
    finally:
        if close_stores:
            close_stores_now()
        gc.freeze()


def close_stores_now() -> None:
    """Close every store connection the command opened (none if it opened no store)."""
    db = sys.modules.get("tracker.db")
    if db is not None:
        db.close_all()


def run_safely(invoke: Any) -> int:
    """Run `invoke`; every failure becomes one `Error:` line and an exit code, no traceback."""
    try:
        result = invoke()
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Error: aborted", err=True)
        return 1
    except click.exceptions.NoArgsIsHelpError as exc:
        # Bare `tracker` (or `tracker case`): the help, as --help shows it.
        click.echo(exc.ctx.get_help())
        return 0
    except click.ClickException as exc:
        message = exc.format_message()
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            message = f"{message} (see '{exc.ctx.command_path} --help')"
        _error(message)
        return exc.exit_code
    except CaseNotActive as exc:
        # The library says what is wrong; the command line adds the command that fixes it.
        _error(exc.words(f" (tracker case reopen {exc.case_id})"))
        return exc.exit_code
    except CardLikeReference as exc:
        _error(exc.words(f"If it is a reference number and not a card, {NOT_A_CARD_HINT}"))
        return exc.exit_code
    except TrackerError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        return 130
    except BrokenPipeError:
        # `tracker export csv | head`: the reader left; that is not our failure.
        _silence_stdout()
        return 0
    except Exception as exc:  # the last line of defence: no traceback reaches the user
        if os.environ.get("TRACKER_DEBUG"):
            raise
        # A database error's text carries the whole SQL statement: show the driver's reason.
        reason = getattr(exc, "orig", None) or exc
        first = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
        _error(
            f"unexpected failure ({type(reason).__name__}: {first[:300]}); "
            "set TRACKER_DEBUG=1 for details"
        )
        return 1
    # With standalone_mode off, Click returns the exit code of --help/--version as an int.
    return result if isinstance(result, int) else 0


def _error(message: str) -> None:
    """One `Error:` line on stderr. Masked: a message may quote what was typed (a card
    number given to the wrong option), and nothing shown may hold card data. Click quotes
    values with repr(), which writes a tab or a no-break space as an escape: those are
    turned back into the characters first, so the masker sees the number as typed."""
    text = _ESCAPE.sub(_unescape, message)
    masked = mask(text)
    # Nothing to mask: the message as written (its escapes show a hidden character).
    shown = message if masked == text else masked
    click.echo(f"Error: {' '.join(shown.split())}", err=True)


def _unescape(match: re.Match[str]) -> str:
    code = match[1] or match[2] or match[3]
    return chr(int(code, 16)) if code else " "


_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|[tnrfv])")


NOT_A_CARD_HINT = "give it again with --not-a-card to keep it exactly as typed"


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
