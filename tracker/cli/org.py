"""`tracker org add|list|show|import`: the directory of organizations and contact points."""

from __future__ import annotations

import click

from tracker.cli.common import (
    change,
    masked_change,
    store,
    view_option,
    warn,
    write_command,
    write_report,
)
from tracker.directory import (
    add_organization,
    case_counts,
    get_organization,
    import_directory,
    list_organizations,
    load_directory,
)
from tracker.errors import NotFound
from tracker.redact import Masker
from tracker.views import View


@click.group()
def org() -> None:
    """The directory: organizations and the ways to reach them.

    Import a directory file (TOML) to learn an organization's phone lines, chat, postal
    address, complaint address and regulator; `case open` and `case escalate` then say
    which one to use.

    \b
    Examples:
      tracker org import examples/directory/american-express.toml
      tracker org show "American Express"
      tracker org list
    """


@org.command("add")
@click.argument("name")
@click.option("--country", metavar="CC", help="Two-letter country code, e.g. US or GB.")
@click.option("--website", metavar="URL", help="The organization's website.")
@click.option("--notes", metavar="TEXT", help="Anything worth knowing about them.")
@write_command
def add(name: str, country: str | None, website: str | None, notes: str | None) -> None:
    """Add an organization (or update the fields given of one that exists).

    Contact points come from `tracker org import FILE`.

    \b
    Examples:
      tracker org add "Acme Bank" --country GB --website https://acmebank.example
      tracker org add "American Express" --country US
    """
    with masked_change() as (session, masker):
        found, created = add_organization(
            session, name, country=country, website=website, notes=notes, masker=masker
        )
        shown = found.name
        write_report().rows(**{"created" if created else "changed": [found]})
    click.echo(f"{'Added' if created else 'Updated'} organization {shown}.")


@org.command("list")
@view_option
def list_(view: View) -> None:
    """List the organizations, with how many contact points and cases each has.

    \b
    Examples:
      tracker org list
      tracker org list --json
    """
    with store().read() as session:
        view.organizations(list_organizations(session))


@org.command("show")
@click.argument("name")
@view_option
def show(name: str, view: View) -> None:
    """Show an organization and its contact points, rung by rung.

    \b
    Examples:
      tracker org show "American Express"
      tracker org show "american express" --json
    """
    with store().read() as session:
        try:
            found = get_organization(session, name)
        except NotFound as exc:
            raise NotFound(f"{exc} (see tracker org list)") from None
        cases, active = case_counts(session, found)
        view.organization(found, cases, active)


@org.command("import")
@click.argument(
    "path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)
@click.option(
    "--prune",
    is_flag=True,
    help="Delete an imported organization's contact points that the file no longer lists.",
)
@write_command
def import_(path: str, prune: bool) -> None:
    """Import organizations and their contact points from a TOML file.

    Re-importing updates in place and never duplicates: organizations match by name
    (ignoring case), contact points by kind, value and region. Phone numbers are checked;
    one bad entry imports nothing. FILE '-' reads standard input. The file format is
    described in README.md and shown in examples/directory/american-express.toml.

    \b
    Examples:
      tracker org import examples/directory/american-express.toml
      tracker org import my-banks.toml --prune
      cat my-banks.toml | tracker org import -
    """
    masker = Masker()
    specs = load_directory(path, masker)
    warn(masker.warning)
    with change() as session:
        results = import_directory(session, specs, prune=prune)
        orgs = [get_organization(session, r.name) for r in results]
        write_report().rows(
            created=[o for o, r in zip(orgs, results, strict=True) if r.created],
            changed=[o for o, r in zip(orgs, results, strict=True) if not r.created],
        )
        write_report().add(
            organization_imports=[
                {
                    "organization_id": o.id,
                    "name": o.name,
                    "new": r.created,
                    "details_updated": r.organization_updated,
                    "added_count": r.added,
                    "updated_count": r.updated,
                    "unchanged_count": r.unchanged,
                    "removed_count": r.removed,
                    "kept_count": r.kept,
                }
                for o, r in zip(orgs, results, strict=True)
            ]
        )
    for r in results:
        counts = [
            (r.added, "added"),
            (r.updated, "updated"),
            (r.unchanged, "unchanged"),
            (r.removed, "removed"),
            (r.kept, "not in the file, kept (--prune removes them)"),
        ]
        shown = [(n, what) for n, what in counts if n]
        parts = [f"{n} {what}" for n, what in shown]
        if shown:
            noun = "contact point" if shown[0][0] == 1 else "contact points"
            parts[0] = f"{shown[0][0]} {noun} {shown[0][1]}"
        summary = ", ".join(parts) if parts else "no contact points"
        note = " (new)" if r.created else " (details updated)" if r.organization_updated else ""
        click.echo(f"Imported {r.name}{note}: {summary}.")
