"""`tracker org add|list|show|import`: the directory of organizations and contact points."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tracker.cli.common import emit_json, json_option, stdout_is_tty, store, warn

if TYPE_CHECKING:
    from tracker.models import Organization


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
def add(name: str, country: str | None, website: str | None, notes: str | None) -> None:
    """Add an organization (or update the fields given of one that exists).

    Contact points come from `tracker org import FILE`.

    \b
    Examples:
      tracker org add "Acme Bank" --country GB --website https://acmebank.example
      tracker org add "American Express" --country US
    """
    from tracker.directory import add_organization
    from tracker.redact import Masker

    masker = Masker()
    with store().write() as session:
        found, created = add_organization(
            session, name, country=country, website=website, notes=notes, masker=masker
        )
        shown = found.name
    warn(masker.warning)
    click.echo(f"{'Added' if created else 'Updated'} organization {shown}.")


@org.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the organizations, with how many contact points and cases each has.

    \b
    Examples:
      tracker org list
      tracker org list --json
    """
    from tracker.directory import list_organizations, organization_dict

    with store().read() as session:
        rows = list_organizations(session)
        if as_json:
            emit_json(
                [
                    organization_dict(
                        r.organization, cases=r.cases, active_cases=r.active_cases, points=False
                    )
                    | {"contact_points": r.contact_points}
                    for r in rows
                ]
            )
            return
        if not rows:
            click.echo(
                "No organizations. Import some: tracker org import FILE",
                err=not stdout_is_tty(),
            )
            return
        from tracker.render import table

        click.echo(
            table(
                ["NAME", "COUNTRY", "CONTACT POINTS", "CASES", "WEBSITE"],
                [
                    [
                        r.organization.name,
                        r.organization.country or "-",
                        str(r.contact_points),
                        f"{r.cases} ({r.active_cases} active)",
                        r.organization.website or "-",
                    ]
                    for r in rows
                ],
                aligned=stdout_is_tty(),
            )
        )


@org.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show an organization and its contact points, rung by rung.

    \b
    Examples:
      tracker org show "American Express"
      tracker org show "american express" --json
    """
    from tracker.directory import case_counts, get_organization, organization_dict

    with store().read() as session:
        found = get_organization(session, name)
        cases, active = case_counts(session, found)
        if as_json:
            emit_json(organization_dict(found, cases=cases, active_cases=active))
            return
        click.echo(_report(found, cases, active))


def _report(found: Organization, cases: int, active: int) -> str:
    from tracker.directory import display_value, ordered_points, point_details

    lines = [found.name]
    facts = [
        ("Country", found.country),
        ("Website", found.website),
        ("Cases", f"{cases} ({active} active)"),
        ("Notes", found.notes),
    ]
    lines += [f"  {label:<8} {value}" for label, value in facts if value]
    level = None
    for point in ordered_points(found):
        if point.level != level:
            level = point.level
            lines += ["", level.capitalize()]
        lines.append(f"  {point.kind:<7} {display_value(point)}")
        details = point_details(point)
        categories = point.categories.split()
        details.append("any category" if "any" in categories else "for: " + ", ".join(categories))
        lines.append(f"          {'; '.join(details)}")
        if point.notes:
            lines.append(f"          {point.notes}")
    if not found.contact_points:
        lines += ["", "No contact points. Import them: tracker org import FILE"]
    return "\n".join(lines)


@org.command("import")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--prune",
    is_flag=True,
    help="Delete an imported organization's contact points that the file no longer lists.",
)
def import_(path: str, prune: bool) -> None:
    """Import organizations and their contact points from a TOML file.

    Re-importing updates in place and never duplicates: organizations match by name
    (ignoring case), contact points by kind, value and region. Phone numbers are checked;
    one bad entry imports nothing. The file format is described in README.md and shown in
    examples/directory/american-express.toml.

    \b
    Examples:
      tracker org import examples/directory/american-express.toml
      tracker org import my-banks.toml --prune
    """
    from tracker.directory import import_directory, load_directory
    from tracker.redact import Masker

    masker = Masker()
    specs = load_directory(path, masker)
    warn(masker.warning)
    with store().write() as session:
        results = import_directory(session, specs, prune=prune)
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
