"""The command reference, generated from the Click commands themselves.

`python -m tracker.cli.reference > docs/commands.md` writes it; tests/test_docs.py fails when
docs/commands.md differs from what the commands say, so the reference never goes stale.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from tracker.cli import cli


def commands() -> Iterator[tuple[str, click.Command]]:
    """Every command, groups first, in the order `--help` lists them."""
    ctx = click.Context(cli, info_name="tracker", **cli.context_settings)

    def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, command
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None:
                    yield from walk(sub, f"{path} {name}")

    yield from walk(cli, "tracker")


def context(path: str) -> click.Context:
    """The context `tracker case open --help` runs in (a 100-column terminal), for the
    command at `path` ("tracker case open"): its usage line names the whole path."""
    names = path.split()
    ctx = click.Context(cli, info_name=names[0], terminal_width=100, **cli.context_settings)
    current: click.Command = cli
    for name in names[1:]:
        assert isinstance(current, click.Group)
        found = current.get_command(ctx, name)
        assert found is not None
        current = found
        ctx = click.Context(current, info_name=name, parent=ctx)
    return ctx


def _help(path: str, command: click.Command) -> str:
    """The command's --help text, as a 100-column terminal shows it."""
    return command.get_help(context(path))


def markdown() -> str:
    lines = [
        "# Command reference",
        "",
        "Generated from the commands' own help (`python -m tracker.cli.reference`); every",
        "command also answers `-h` / `--help`.",
        "",
    ]
    for path, command in commands():
        lines += [f"## `{path}`", "", "```text", _help(path, command).rstrip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    click.echo(markdown(), nl=False)
