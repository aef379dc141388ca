"""`tracker config set|unset|get|show`: the settings in config.toml."""

from __future__ import annotations

import click

from tracker.cli.common import view_option
from tracker.config import SETTINGS_KEYS, config_file, setting_value, settings, write_setting
from tracker.errors import NotFound
from tracker.views import View

KEY = click.Choice(SETTINGS_KEYS)


@click.group()
def config() -> None:
    """Your settings (config.toml in the config folder): your name and address for letters,
    your email, your country, how reminders reach you.

    \b
    Examples:
      tracker config set name "Ada Lovelace"
      tracker config set address "1 Main St" "Springfield, IL 62701"
      tracker config get name
      tracker config show
    """


@config.command("set")
@click.argument("key", type=KEY, metavar="KEY")
@click.argument("values", nargs=-1, required=True, metavar="VALUE...")
def set_(key: str, values: tuple[str, ...]) -> None:
    """Set KEY to VALUE; every other key of the file is kept as it is.

    KEY is one of: country, date_order, time_zone, notify, name, address, email, locale,
    server (true or false: start the command server that makes commands instant).
    An address is one VALUE per line (or one VALUE with \\n between lines); notify takes
    one or more notifiers.

    \b
    Examples:
      tracker config set name "Ada Lovelace"
      tracker config set address "1 Main St" "Springfield, IL 62701"
      tracker config set address '1 High Street\\nLondon SW1A 1AA'
      tracker config set email ada@example.org
      tracker config set country GB
      tracker config set notify desktop "apprise:ntfy://ntfy.sh/my-topic"
    """
    new = write_setting(key, values)
    value = setting_value(new, key)
    shown = " / ".join(value) if isinstance(value, tuple) else value
    click.echo(f"Set {key} to {shown} in {config_file()}.")


@config.command("unset")
@click.argument("key", type=KEY, metavar="KEY")
def unset(key: str) -> None:
    """Remove KEY from the config file (its default applies again).

    \b
    Example:
      tracker config unset address
    """
    write_setting(key, None)
    click.echo(f"Removed {key} from {config_file()}.")


@config.command("get")
@click.argument("key", type=KEY, metavar="KEY")
@view_option
def get(key: str, view: View) -> None:
    """Print KEY's value (an address or a list: one line each); exit 1 if it is not set.

    \b
    Examples:
      tracker config get name
      tracker config get address --json
    """
    value = setting_value(settings(), key)
    if value is None:
        raise NotFound(f"{key} is not set")
    view.config_value(key, value)


@config.command("show")
@view_option
def show(view: View) -> None:
    """Print the config file's path and every setting (a notifier's password hidden).

    \b
    Examples:
      tracker config show
      tracker config show --json
    """
    found = settings()
    view.config_settings(str(config_file()), {k: setting_value(found, k) for k in SETTINGS_KEYS})
