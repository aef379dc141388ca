"""`tracker server`: the command server that makes everyday commands start warm."""

from __future__ import annotations

import time

import click

from tracker import client, server


@click.group("server")
def server_group() -> None:
    """The command server: a warm process that runs each command in a fork of itself.

    \b
    The `tracker` command hands its command line, environment, working folder and
    terminal to the server when one runs, else runs the command itself and starts one in
    the background for next time; the server leaves after 15 idle minutes
    (TRACKER_SERVER_IDLE seconds). TRACKER_NO_SERVER=1, or `server = false` in
    config.toml, runs every command in-process and starts no server.

    \b
    Examples:
      tracker server status
      tracker server stop
    """


@server_group.command()
def status() -> None:
    """Whether a command server runs for this data folder, since when and how busy.

    \b
    Example:
      tracker server status
    """
    path = client.socket_path()
    try:
        answer = client.ask(path, b"status")
    except client.Refused:
        click.echo(f"No command server is running (its socket would be {path}).")
        return
    fields = dict(f.decode(errors="replace").partition("=")[::2] for f in answer[1:])
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(fields.get("started", 0))))
    click.echo(f"Command server: running, pid {fields.get('pid')}, since {since}")
    click.echo(f"Socket: {fields.get('socket', path)}")
    click.echo(f"Commands: {fields.get('served')} served, {fields.get('running')} running")
    click.echo(f"Idle timeout: {fields.get('idle')} s")
    if fields.get("current") == "yes":
        click.echo("Code: current")
    else:
        click.echo("Code: stale (another version); the next command replaces it")


@server_group.command()
def stop() -> None:
    """Stop the command server (commands that are running finish first).

    \b
    Example:
      tracker server stop
    """
    path = client.socket_path()
    try:
        answer = client.ask(path, b"status")
        client.ask(path, b"stop")
    except client.Refused:
        click.echo("No command server is running.")
        return
    pid = dict(f.decode(errors="replace").partition("=")[::2] for f in answer[1:]).get("pid")
    click.echo(f"Stopped the command server (pid {pid}).")


@server_group.command("run")
def run_() -> None:
    """Run the command server in the foreground (it logs to stderr) until stopped.

    The `tracker` command starts one in the background by itself: this is for a service
    manager, or to watch it.

    \b
    Example:
      TRACKER_SERVER_IDLE=86400 tracker server run
    """
    raise SystemExit(server.main(detached=False))
