"""The directory: `org add|list|show|import`, and the contact point suggested for a case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker

from tracker.advice import describe_contact, suggested_contact
from tracker.config import database_url
from tracker.db import Store
from tracker.directory import format_phone
from tracker.models import Case

ROOT = Path(__file__).resolve().parent.parent
AMEX = ROOT / "examples" / "directory" / "american-express.toml"

SMALL = """
[[organization]]
name = "Acme Bank"
country = "GB"
website = "https://acmebank.example"

[[organization.contact]]
kind = "phone"
value = "020 7946 0000"
label = "Customer service"
region = "UK"
hours = "Mon-Fri 8-20"

[[organization.contact]]
kind = "email"
value = "complaints@acmebank.example"
level = "complaint"
categories = "complaint dispute"
"""


def write(tmp_path: Path, text: str, name: str = "dir.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def points(tracker: Any, name: str) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = tracker.json("org", "show", name)["contact_points"]
    return shown


# --------------------------------------------------------------------------- import


def test_import_of_the_example_directory_stores_every_contact_point(tracker: Any) -> None:
    out = tracker.ok("org", "import", str(AMEX))
    assert out == "Imported American Express (new): 10 contact points added.\n"
    org = tracker.json("org", "show", "American Express")
    assert (org["country"], org["website"]) == ("US", "https://www.americanexpress.com")
    by_display = {p["display"]: p for p in org["contact_points"]}
    assert list(by_display)[:4] == [
        "+1 800-528-2122",
        "+1 623-492-5450",
        "+1 800-492-3932",
        "+1 623-492-3932",
    ]
    abroad = by_display["+1 623-492-5450"]
    assert abroad["value"] == "+16234925450"  # stored in E.164
    assert (abroad["region"], abroad["hours"], abroad["collect_calls"]) == ("abroad", "24/7", True)
    assert by_display["+1 623-492-3932"]["collect_calls"] is True
    mail = by_display["American Express, P.O. Box 981535, El Paso, TX 79998-1535"]
    assert mail["value"] == "American Express\nP.O. Box 981535\nEl Paso, TX 79998-1535"
    assert (mail["kind"], mail["level"]) == ("mail", "complaint")
    cfpb = by_display["https://www.consumerfinance.gov/complaint/"]
    assert (cfpb["level"], cfpb["region"]) == ("regulator", "US")
    assert by_display["americanexpress.com"]["kind"] == "chat"
    assert by_display["americanexpress.com"]["categories"] == ["dispute"]
    assert {p["kind"] for p in org["contact_points"]} == {
        "phone",
        "web",
        "chat",
        "app",
        "social",
        "mail",
    }
    social = next(p for p in org["contact_points"] if p["kind"] == "social")
    assert "never share account details" in social["notes_text"]


def test_reimport_updates_in_place_and_never_duplicates(tracker: Any, tmp_path: Path) -> None:
    tracker.ok("org", "import", str(AMEX))
    assert tracker.ok("org", "import", str(AMEX)) == (
        "Imported American Express: 10 contact points unchanged.\n"
    )
    edited = AMEX.read_text().replace(
        'value = "1-800-528-2122"\nlabel = "Card Member Services"',
        'value = "+1 (800) 528 2122"\nlabel = "Card Member Services (toll-free)"',
    )
    assert edited != AMEX.read_text()
    out = tracker.ok("org", "import", str(write(tmp_path, edited)))
    assert out == "Imported American Express: 1 contact point updated, 9 unchanged.\n"
    shown = points(tracker, "American Express")
    assert len(shown) == 10
    assert shown[0]["label"] == "Card Member Services (toll-free)"
    assert tracker.json("org", "list")[0]["contact_point_count"] == 10


def test_organizations_match_by_name_ignoring_case(tracker: Any) -> None:
    tracker.ok("case", "open", "Lost card", "--org", "american EXPRESS")
    out = tracker.ok("org", "import", str(AMEX))
    assert out == "Imported American Express (details updated): 10 contact points added.\n"
    listed = tracker.json("org", "list")
    assert [(o["name"], o["case_count"], o["active_case_count"]) for o in listed] == [
        ("American Express", 1, 1)
    ]


def test_points_the_file_no_longer_lists_are_kept_unless_pruned(
    tracker: Any, tmp_path: Path
) -> None:
    path = write(tmp_path, SMALL)
    tracker.ok("org", "import", str(path))
    shorter = write(tmp_path, SMALL.split('[[organization.contact]]\nkind = "email"')[0], "b.toml")
    assert tracker.ok("org", "import", str(shorter)) == (
        "Imported Acme Bank: 1 contact point unchanged, "
        "1 not in the file, kept (--prune removes them).\n"
    )
    assert len(points(tracker, "acme bank")) == 2
    assert tracker.ok("org", "import", str(shorter), "--prune") == (
        "Imported Acme Bank: 1 contact point unchanged, 1 removed.\n"
    )
    assert [p["kind"] for p in points(tracker, "acme bank")] == ["phone"]


def test_a_number_without_plus_is_read_in_the_organizations_country(
    tracker: Any, tmp_path: Path
) -> None:
    tracker.ok("org", "import", str(write(tmp_path, SMALL)))
    phone = points(tracker, "Acme Bank")[0]
    assert (phone["value"], phone["display"]) == ("+442079460000", "+44 20 7946 0000")
    email = points(tracker, "Acme Bank")[1]
    assert (email["level"], email["categories"]) == ("complaint", ["complaint", "dispute"])


BAD_PHONE = """
[[organization]]
name = "Good Co"
[[organization.contact]]
kind = "phone"
value = "+1 800 528 2122"

[[organization]]
name = "Bad Co"
country = "US"
[[organization.contact]]
kind = "web"
value = "https://bad.example"
[[organization.contact]]
kind = "phone"
value = "1-800-52"
"""


def test_a_bad_phone_number_names_file_and_entry_and_imports_nothing(
    tracker: Any, tmp_path: Path
) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    path = write(tmp_path, BAD_PHONE)
    error = tracker.fails(2, "org", "import", str(path))
    assert error == (
        f"Error: {path}: organization 2 (Bad Co), contact 2 (phone '1-800-52'): "
        "invalid phone number '1-800-52': no such number in its numbering plan"
    )
    assert tracker.json("org", "list") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[organization]]\nname = \n", "is not valid TOML: Invalid value (at line 2, column 8)"),
        ("title = 'x'\n", "unknown key 'title'; a directory file holds [[organization]] tables"),
        ("", "no [[organization]] table found"),
        ("[[organization]]\ncountry = 'US'\n", "organization 1: 'name' is missing"),
        (
            "[[organization]]\nname = 'X'\nphone = '1'\n",
            "organization 1: unknown key 'phone'; use 'contact', 'country', 'name', 'notes', "
            "'subdivision', 'website'",
        ),
        (
            "[[organization]]\nname = 'X'\ncountry = 'USA'\n",
            "organization 1 (X): invalid country 'USA': give a 2-letter ISO code such as US or GB",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization.contact]]\nkind = 'fax'\nvalue = '1'\n",
            "organization 1 (X), contact 1: unknown kind 'fax'; choose one of: phone, chat, "
            "mail, app, email, social, web",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization.contact]]\nkind = 'web'\n",
            "organization 1 (X), contact 1: 'value' is missing",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization.contact]]\nkind = 'web'\n"
            "value = 'x.example'\nlevel = 'boss'\n",
            "organization 1 (X), contact 1 (web 'x.example'): unknown level 'boss'; choose one "
            "of: frontline, supervisor, complaint, regulator",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization.contact]]\nkind = 'web'\n"
            "value = 'x.example'\ncategories = ['lost', 'any']\n",
            "organization 1 (X), contact 1 (web 'x.example'): unknown category 'lost'; choose "
            "from: lost_stolen, dispute, rewards, personal_info, benefits, payment, "
            "application, complaint, card_replacement, other, any",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization.contact]]\nkind = 'phone'\n"
            "value = '800 528 2122'\n",
            "organization 1 (X), contact 1 (phone '800 528 2122'): cannot tell the country of "
            "phone number '800 528 2122': write it as +<country code> ..., or give the "
            "organization a country",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization.contact]]\nkind = 'phone'\n"
            "value = '+1 call us'\n",
            "organization 1 (X), contact 1 (phone '+1 call us'): invalid phone number "
            "'+1 call us': not a phone number",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization.contact]]\nkind = 'web'\n"
            "value = 'x.example'\ncollect_calls = 'yes'\n",
            "organization 1 (X), contact 1 (web 'x.example'): 'collect_calls' must be true or "
            "false",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization.contact]]\nkind = 'web'\n"
            "value = 'x.example'\n[[organization.contact]]\nkind = 'web'\nvalue = 'x.example'\n",
            "organization 1 (X), contact 2 repeats contact 1 (same kind, value and region)",
        ),
        (
            "[[organization]]\nname = 'X'\n[[organization]]\nname = 'x'\n",
            "organization 2 (x) repeats organization 1",
        ),
    ],
)
def test_a_bad_directory_file_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    # The file is refused before any store is opened: one backend is enough.
    tracker = Tracker()
    path = write(tmp_path, text)
    assert tracker.fails(2, "org", "import", str(path)) == f"Error: {path}: {message}".replace(
        f"{path}: is not valid TOML", f"{path} is not valid TOML"
    )


def test_a_missing_file_is_a_usage_error(tracker: Any, tmp_path: Path) -> None:
    error = tracker.fails(2, "org", "import", str(tmp_path / "nope.toml"))
    assert "does not exist" in error


# --------------------------------------------------------------------------- add, list, show


def test_org_add_creates_then_updates(tracker: Any) -> None:
    assert tracker.ok("org", "add", " Acme Bank ", "--country", "gb") == (
        "Added organization Acme Bank.\n"
    )
    assert tracker.ok("org", "add", "acme bank", "--website", "https://acme.example") == (
        "Updated organization Acme Bank.\n"
    )
    shown = tracker.json("org", "show", "ACME BANK")
    assert (shown["name"], shown["country"], shown["website"]) == (
        "Acme Bank",
        "GB",
        "https://acme.example",
    )
    assert shown["contact_points"] == []
    assert "No contact points. Import them: tracker org import FILE" in tracker.ok(
        "org", "show", "acme bank"
    )


def test_org_add_refuses_a_bad_country(tracker: Any) -> None:
    assert tracker.fails(2, "org", "add", "X", "--country", "Narnia") == (
        "Error: invalid country 'Narnia': give a 2-letter ISO code such as US or GB"
    )
    assert tracker.fails(2, "org", "add", "X", "--country", "XX") == (
        "Error: unknown country 'XX': give an ISO 3166 code such as US, GB or FR"
    )


def test_org_add_reads_uk_as_gb_and_keeps_a_subdivision(tracker: Any) -> None:
    tracker.ok("org", "add", "Barclays", "--country", "UK")
    assert tracker.json("org", "show", "Barclays")["country"] == "GB"
    tracker.ok("org", "add", "Bank of Scotland", "--country", "gb-sct")
    assert tracker.json("org", "show", "Bank of Scotland")["country"] == "GB"


def test_org_show_of_an_unknown_organization_fails(tracker: Any) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    assert tracker.fails(1, "org", "show", "Nope") == (
        "Error: no organization 'Nope' (see tracker org list)"
    )


def test_org_list_text(tracker: Any) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    assert tracker.ok("org", "list") == ""
    tracker.ok("org", "import", str(AMEX))
    tracker.ok("org", "add", "Acme Bank")
    assert tracker.ok("org", "list").splitlines() == [
        "NAME\tCOUNTRY\tCONTACT POINTS\tCASES\tWEBSITE",
        "Acme Bank\t-\t0\t0 (0 active)\t-",
        "American Express\tUS\t10\t0 (0 active)\thttps://www.americanexpress.com",
    ]


def test_org_show_lists_points_rung_by_rung(tracker: Any) -> None:
    tracker.ok("org", "import", str(AMEX))
    out = tracker.ok("org", "show", "american express")
    lines = out.splitlines()
    assert lines[0] == "American Express"
    assert [line for line in lines if line and not line.startswith(" ")] == [
        "American Express",
        "Frontline",
        "Complaint",
        "Regulator",
    ]
    assert "  phone   +1 623-492-5450" in lines
    assert (
        "          Card Member Services; from abroad; 24/7; collect calls accepted; any category"
        in lines
    )
    assert "  mail    American Express, P.O. Box 981535, El Paso, TX 79998-1535" in lines
    assert "  chat    americanexpress.com" in lines


# --------------------------------------------------------------------------- suggestions


def test_opening_a_lost_card_case_says_which_line_to_call(tracker: Any) -> None:
    tracker.ok("org", "import", str(AMEX))
    out = tracker.ok(
        "case",
        "open",
        "Card lost in Lisbon",
        "--org",
        "American Express",
        "--category",
        "lost_stolen",
    )
    assert out.splitlines() == [
        "Opened case 1: Card lost in Lisbon",
        "Call now, 24/7: +1 800-528-2122 (US) or, from abroad, +1 623-492-5450 "
        "(collect calls accepted).",
        "Have ready: the card's last 4 digits (from a statement or the app).",
        "Ask for the agent's name and a reference number; record them with "
        "tracker case contact 1 --channel phone --agent NAME --ref REF",
        "Never note your security code (CID/CVV) or PIN: the tracker keeps neither.",
    ]


def test_a_dispute_suggests_chat_or_phone_and_the_details_to_have_ready(tracker: Any) -> None:
    tracker.ok("org", "import", str(AMEX))
    out = tracker.ok(
        "case",
        "open",
        "Disputed charge",
        "--org",
        "American Express",
        "--category",
        "dispute",
        "--account",
        "1005",
        "--amount",
        "129.99",
        "--currency",
        "USD",
        "--merchant",
        "ACME Hardware",
        "--txn-date",
        "2026-11-02",
        "--ref",
        "D-4471",
    )
    assert out.splitlines()[1:4] == [
        "Chat at americanexpress.com (Online chat: log in, then Chat or Customer Service); "
        "or call +1 800-528-2122 (US, 24/7).",
        "In writing (formal complaints, supporting documents): American Express, "
        "P.O. Box 981535, El Paso, TX 79998-1535.",
        "Have ready: card ending 1005; the transaction (2026-11-02, ACME Hardware, "
        "129.99 USD); earlier reference numbers (D-4471).",
    ]


def test_escalating_names_the_next_rungs_contact(tracker: Any) -> None:
    tracker.ok("org", "import", str(AMEX))
    tracker.ok("case", "open", "Card", "--org", "American Express", "--category", "lost_stolen")
    tracker.ok("case", "ref", "1", "LS-1")
    out = tracker.ok("case", "escalate", "1")
    assert out.splitlines()[:3] == [
        "Case 1 escalated to supervisor.",
        "Ask for a supervisor or manager. Call +1 800-528-2122 (US, 24/7) or, from abroad, "
        "+1 623-492-5450 (collect calls accepted).",
        "Have ready: the card's last 4 digits (from a statement or the app); earlier "
        "reference numbers (LS-1).",
    ]
    assert tracker.ok("case", "escalate", "1").splitlines() == [
        "Case 1 escalated to complaint.",
        "Put the complaint in writing, to: American Express, P.O. Box 981535, El Paso, "
        "TX 79998-1535.",
        "Draft the letter from the case history: tracker case letter 1",
    ]
    assert tracker.ok("case", "escalate", "1").splitlines() == [
        "Case 1 escalated to regulator.",
        "File a complaint with the regulator, Consumer Financial Protection Bureau (CFPB), "
        "at https://www.consumerfinance.gov/complaint/ (US).",
        "Draft the letter from the case history: tracker case letter 1",
    ]


def test_no_suggestion_without_a_directory_entry(tracker: Any) -> None:
    out = tracker.ok("case", "open", "Fees", "--org", "Unknown Bank", "--category", "dispute")
    assert out == "Opened case 1: Fees\n"
    assert tracker.ok("case", "escalate", "1") == "Case 1 escalated to supervisor.\n"


def test_a_category_specific_point_beats_a_general_one(tracker: Any) -> None:
    tracker.ok("org", "import", str(AMEX))
    out = tracker.ok("case", "open", "Points", "--org", "American Express", "--category", "rewards")
    assert out.splitlines()[1] == (
        "Go to https://www.americanexpress.com (Website and Help Center, self-service after "
        "you log in); or call +1 800-528-2122 (US, 24/7)."
    )


def test_the_daemon_helpers_name_a_contact_for_any_rung(tracker: Any) -> None:
    tracker.ok("org", "import", str(AMEX))
    tracker.ok("case", "open", "Charge", "--org", "American Express", "--category", "dispute")
    store = Store(database_url())
    try:
        with store.read() as session:
            case = session.get(Case, 1)
            assert case is not None
            described = {
                level: describe_contact(point)
                for level in ("frontline", "supervisor", "complaint", "regulator")
                if (point := suggested_contact(session, case, level=level)) is not None
            }
    finally:
        store.dispose()
    assert described == {
        "frontline": "chat at americanexpress.com (Online chat: log in, then Chat or "
        "Customer Service)",
        "supervisor": "call +1 800-528-2122 (Card Member Services, US, 24/7)",
        "complaint": "write to American Express, P.O. Box 981535, El Paso, TX 79998-1535 "
        "(General mailing address, US)",
        "regulator": "file a complaint with the regulator, Consumer Financial Protection "
        "Bureau (CFPB), at https://www.consumerfinance.gov/complaint/ (US)",
    }


def test_format_phone_shows_what_it_cannot_read_as_stored() -> None:
    assert format_phone("+18005282122") == "+1 800-528-2122"
    assert format_phone("not a number") == "not a number"
