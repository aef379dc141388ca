# ruff: noqa: E501  (each line of the corpus is kept whole, as a user would type it)
"""How `tracker log` reads lines in the user's own words: the corpus (tests/test_quicklog.py).

Each entry is one line with what a careful person reads in it. `Reads`: the parts (a key
left out has its default: no agent, no references, direction out...); `Refuses`: the line
is refused with that message, as it should be (a time that cannot be read, two
organizations), or, with cannot=True, one a person would read but the parser cannot (it
refuses rather than guesses); `Misreads`: what it reads, wrongly, kept so that a change is
seen, with what it should read. Times are as the grammar is given them ("in 7-10 business
days"); the organizations are those of ORGANIZATIONS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ORGANIZATIONS = (
    "American Express",
    "Bank of America",
    "British Airways",
    "Consumer Financial Protection Bureau",
    "Financial Ombudsman Service",
    "Acme Energy",
)


@dataclass(frozen=True)
class Reads:
    text: str
    parts: dict[str, Any]


@dataclass(frozen=True)
class Refuses:
    text: str
    message: str
    cannot: bool = False


@dataclass(frozen=True)
class Misreads:
    text: str
    parts: dict[str, Any]
    wanted: str = field(default="")


Entry = Reads | Refuses | Misreads

CORPUS: list[Entry] = [
    Reads(
        "called amex, spoke to Jen (id 4471), ref ABC-12345, credit in 7-10 business days, call back if nothing by the 15th",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Jen",
            "agent_id": "4471",
            "references": [["ABC-12345", "call"]],
            "promises": [["credit", "company", "in 7-10 business days"]],
            "follow_up": ["call back if nothing", "by the 15th"],
        },
    ),
    Reads(
        "called American Express, spoke with Maria, ref CALL-88812",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Maria",
            "references": [["CALL-88812", "call"]],
        },
    ),
    Reads(
        "phoned amex; agent Tom, badge 5521; they will reverse the fee within 48 hours",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Tom",
            "agent_id": "5521",
            "promises": [["reverse the fee", "company", "within 48 hours"]],
        },
    ),
    Reads(
        "rang Amex and spoke to Priya who said the refund will post in 3-5 business days",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Priya",
            "promises": [["the refund will post", "company", "in 3-5 business days"]],
        },
    ),
    Reads(
        "called amex, reference number is D-2026-0042, dispute opened",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["D-2026-0042", "call"]],
        },
    ),
    Reads(
        "chatted with amex, agent Lee, ticket #77812, new card within 5 business days",
        {
            "channel": "chat",
            "organization": "American Express",
            "agent": "Lee",
            "references": [["77812", "other"]],
            "promises": [["new card", "company", "within 5 business days"]],
        },
    ),
    Reads(
        "online chat with American Express, confirmation number 5512-AB, statement credit by Friday",
        {
            "channel": "chat",
            "organization": "American Express",
            "references": [["5512-AB", "other"]],
            "promises": [["statement credit", "company", "by Friday"]],
        },
    ),
    Reads(
        "emailed amex, I will send the receipt by tomorrow",
        {
            "channel": "email",
            "organization": "American Express",
            "promises": [["send the receipt", "me", "by tomorrow"]],
        },
    ),
    Reads(
        "sent an email to bofa, case number 9981, reply within 10 days",
        {
            "channel": "email",
            "organization": "Bank of America",
            "references": [["9981", "other"]],
            "promises": [["reply", "company", "within 10 days"]],
        },
    ),
    Reads(
        "wrote to American Express, complaint ref CR-7781, final response within 8 weeks",
        {
            "channel": "mail",
            "organization": "American Express",
            "references": [["CR-7781", "complaint"]],
            "promises": [["final response", "company", "within 8 weeks"]],
        },
    ),
    Reads(
        "sent a letter to bofa, they should answer in 30 days",
        {
            "channel": "mail",
            "organization": "Bank of America",
            "promises": [["answer", "company", "in 30 days"]],
        },
    ),
    Reads(
        "amex called me, ref CB-551, the charge is removed",
        {
            "channel": "phone",
            "direction": "in",
            "organization": "American Express",
            "references": [["CB-551", "call"]],
        },
    ),
    Reads(
        "amex called me back, refund by Friday",
        {
            "channel": "phone",
            "direction": "in",
            "organization": "American Express",
            "promises": [["refund", "company", "by Friday"]],
        },
    ),
    Reads(
        "got a call from bank of america, agent Sarah (id 991), fee waived",
        {
            "channel": "phone",
            "direction": "in",
            "organization": "Bank of America",
            "agent": "Sarah",
            "agent_id": "991",
        },
    ),
    Reads(
        "got a letter from amex, dispute id DSP-2026-99812",
        {
            "channel": "mail",
            "direction": "in",
            "organization": "American Express",
            "references": [["DSP-2026-99812", "dispute"]],
        },
    ),
    # Who is to send the documents? The words say no one; the company is assumed.
    Misreads(
        "got an email from BofA, ticket 4477, documents due by Dec 15",
        {
            "channel": "email",
            "direction": "in",
            "organization": "Bank of America",
            "references": [["4477", "other"]],
            "promises": [["documents due", "company", "by Dec 15"]],
        },
        wanted="the promise is mine (I send the documents)",
    ),
    Reads(
        "called the cfpb, complaint number 261201-12345, company response within 15 days",
        {
            "channel": "phone",
            "organization": "Consumer Financial Protection Bureau",
            "references": [["261201-12345", "complaint"]],
            "promises": [["company response", "company", "within 15 days"]],
        },
    ),
    Reads(
        "called amex, 23 min call, no news",
        {"channel": "phone", "organization": "American Express", "duration": 1380},
    ),
    Reads(
        "phoned Amex, took 40 minutes, spoke to a supervisor, case number 77812",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["77812", "call"]],
            "duration": 2400,
        },
    ),
    Reads(
        "called amex, spoke to Jen, call lasted 1h10m",
        {"channel": "phone", "organization": "American Express", "agent": "Jen", "duration": 4200},
    ),
    Reads(
        "called amex, on hold for an hour, nothing new",
        {"channel": "phone", "organization": "American Express"},
    ),
    Refuses(
        "called amex, they will look into it",
        "the promise 'they will look into it' has no time; say when, ",
    ),
    Refuses(
        "called amex, credit in 7-10 busness days",
        "'credit in 7-10 busness days': cannot read 'in 7-10 busness ",
    ),
    Refuses(
        "called amex, credit by fridya",
        "'credit by fridya': cannot read 'by fridya' as a time; try 2",
    ),
    Refuses("called amex and bofa", "the line names more than one organization (American Express "),
    Reads("called bob's garage, ref 1", {"channel": "phone", "references": [["1", "call"]]}),
    Reads("spoke to Jen, ref ABC-1", {"agent": "Jen", "references": [["ABC-1", "other"]]}),
    Reads(
        "called amex, ref 4111 1111 1111 1111",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["4111 1111 1111 1111", "call"]],
        },
    ),
    Reads(
        "called amex, my card 4111 1111 1111 1111 was charged twice, ref Q-1",
        {"channel": "phone", "organization": "American Express", "references": [["Q-1", "call"]]},
    ),
    Reads(
        "called amex, spoke to jen, ref abc-123",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "jen",
            "references": [["abc-123", "call"]],
        },
    ),
    Reads(
        "I called Amex, spoke to Maria Lopez, ref 55-1, she will call me back tomorrow",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Maria Lopez",
            "references": [["55-1", "call"]],
            "promises": [["call me back", "company", "tomorrow"]],
        },
    ),
    Refuses(
        "called Amex. Spoke to Ahmed. Ref 99812. Credit within 2 billing cycles.",
        "'Credit within 2 billing cycles': cannot read 'within 2 bill",
        cannot=True,
    ),
    Reads(
        "called amex, spoke to Ahmed, ref 99812, credit in 2 weeks",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Ahmed",
            "references": [["99812", "call"]],
            "promises": [["credit", "company", "in 2 weeks"]],
        },
    ),
    Reads(
        "called amex, rep Kim, ref K-1, replacement card in 5-7 days",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Kim",
            "references": [["K-1", "call"]],
            "promises": [["replacement card", "company", "in 5-7 days"]],
        },
    ),
    Reads(
        "called amex - spoke to Jen - ref ABC-1",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Jen",
            "references": [["ABC-1", "call"]],
        },
    ),
    Reads(
        "called amex, agent's name was Olga, ref O-77, follow up on Monday",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Olga",
            "references": [["O-77", "call"]],
            "follow_up": ["follow up", "on Monday"],
        },
    ),
    Reads(
        "called amex, follow up next week",
        {
            "channel": "phone",
            "organization": "American Express",
            "follow_up": ["follow up", "next week"],
        },
    ),
    Reads(
        "called amex, remind me in 3 days",
        {
            "channel": "phone",
            "organization": "American Express",
            "follow_up": ["remind me", "in 3 days"],
        },
    ),
    Reads(
        "called amex, chase them on the 20th",
        {
            "channel": "phone",
            "organization": "American Express",
            "follow_up": ["chase them", "on the 20th"],
        },
    ),
    Reads(
        "called amex, if nothing by the 15th call back",
        {
            "channel": "phone",
            "organization": "American Express",
            "follow_up": ["if nothing call back", "by the 15th"],
        },
    ),
    Reads(
        "called amex, check back in 2 weeks",
        {
            "channel": "phone",
            "organization": "American Express",
            "follow_up": ["check back", "in 2 weeks"],
        },
    ),
    Reads(
        "called amex, I need to upload the statement by eod, they will decide within 10 business days",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [
                ["upload the statement", "me", "by eod"],
                ["decide", "company", "within 10 business days"],
            ],
        },
    ),
    Reads(
        "called amex, they promised a callback tomorrow 2pm",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [["a callback", "company", "tomorrow 2pm"]],
        },
    ),
    Reads(
        "called amex, promised to refund by next Friday",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [["refund", "company", "by next Friday"]],
        },
    ),
    Reads(
        "called amex, Jen said the credit will show in 7 days",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Jen",
            "promises": [["the credit will show", "company", "in 7 days"]],
        },
    ),
    Reads(
        "called amex, expect a letter within 14 days",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [["a letter", "company", "within 14 days"]],
        },
    ),
    Reads(
        "called amex, new PIN mailer in 7-10 days",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [["new PIN mailer", "company", "in 7-10 days"]],
        },
    ),
    Reads(
        "called amex, ref ABC-12345 and CALL-1",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["ABC-12345", "call"], ["CALL-1", "call"]],
        },
    ),
    Reads(
        "called amex, refs ABC-1, XYZ-2",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["ABC-1", "call"], ["XYZ-2", "call"]],
        },
    ),
    Reads(
        "called amex, claim number CL-5511, payout in 4 weeks",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["CL-5511", "claim"]],
            "promises": [["payout", "company", "in 4 weeks"]],
        },
    ),
    Refuses(
        "called amex, case ref 12-34-56, credit by 12/11",
        "'credit by 12/11': '12/11' could be 12 November or 11 Decemb",
    ),
    Reads(
        "called amex, credit by 2026-12-15",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [["credit", "company", "by 2026-12-15"]],
        },
    ),
    Reads(
        "called amex, credit by Dec 24",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [["credit", "company", "by Dec 24"]],
        },
    ),
    Reads(
        "called amex, credit by the 31st",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [["credit", "company", "by the 31st"]],
        },
    ),
    Reads(
        "called amex, credit on Monday",
        {
            "channel": "phone",
            "organization": "American Express",
            "promises": [["credit", "company", "on Monday"]],
        },
    ),
    Reads(
        "called amex, refund 3 days ago", {"channel": "phone", "organization": "American Express"}
    ),
    Reads(
        "visited a branch of bofa, spoke to the manager, new card by Friday",
        {
            "channel": "in_person",
            "organization": "Bank of America",
            "promises": [["new card", "company", "by Friday"]],
        },
    ),
    Reads(
        "went to bofa, spoke to Carl, documents needed by next Monday",
        {
            "channel": "in_person",
            "organization": "Bank of America",
            "agent": "Carl",
            "promises": [["documents needed", "company", "by next Monday"]],
        },
    ),
    Reads("tweeted at amex, no reply", {"channel": "social", "organization": "American Express"}),
    Reads(
        "messaged amex in the app, ref APP-9, answer within 24 hours",
        {
            "channel": "app",
            "organization": "American Express",
            "references": [["APP-9", "other"]],
            "promises": [["answer", "company", "within 24 hours"]],
        },
    ),
    Reads(
        "called British Airways, ref BA-1234, refund in 6-8 weeks",
        {
            "channel": "phone",
            "organization": "British Airways",
            "references": [["BA-1234", "call"]],
            "promises": [["refund", "company", "in 6-8 weeks"]],
        },
    ),
    Reads(
        "called BA, ref 8812, voucher by email within 5 days",
        {
            "channel": "phone",
            "organization": "British Airways",
            "references": [["8812", "call"]],
            "promises": [["voucher by email", "company", "within 5 days"]],
        },
    ),
    Reads(
        "called the ombudsman, ref FOS-1, decision in 8 weeks",
        {
            "channel": "phone",
            "organization": "Financial Ombudsman Service",
            "references": [["FOS-1", "call"]],
            "promises": [["decision", "company", "in 8 weeks"]],
        },
    ),
    Reads(
        "called amex, spoke to Jen (id 4471), ref ABC-12345",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Jen",
            "agent_id": "4471",
            "references": [["ABC-12345", "call"]],
        },
    ),
    Reads(
        "called amex, spoke with agent Robert id 66 ref R-66",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Robert",
            "agent_id": "66",
            "references": [["R-66", "call"]],
        },
    ),
    Reads(
        "called amex at 9am, spoke to Jen",
        {"channel": "phone", "organization": "American Express", "agent": "Jen", "at": "9am"},
    ),
    Reads(
        "called amex yesterday, ref Y-1",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["Y-1", "call"]],
            "at": "yesterday",
        },
    ),
    Refuses(
        "called amex, credit should post within 3 billing days",
        "'credit should post within 3 billing days': cannot read 'wit",
        cannot=True,
    ),
    Refuses(
        "called amex, spoke to Jen, transferred to disputes, spoke to Mark, ref M-1",
        "two agents' names (Jen, Mark); give one per line",
        cannot=True,
    ),
    Refuses(
        "called amex and then chatted with them, ref C-1",
        "'chatted with them' is a second contact (phone, then chat); ",
    ),
    Reads(
        "called acme energy, meter reading ref MR-551, engineer visit on the 9th",
        {
            "channel": "phone",
            "organization": "Acme Energy",
            "references": [["MR-551", "call"]],
            "promises": [["engineer visit", "company", "on the 9th"]],
        },
    ),
    Reads(
        "called acme energy, bill corrected by eom",
        {
            "channel": "phone",
            "organization": "Acme Energy",
            "promises": [["bill corrected", "company", "by eom"]],
        },
    ),
    Reads(
        "chat with amex, agent id 5521, ref CH-1",
        {
            "channel": "chat",
            "organization": "American Express",
            "agent_id": "5521",
            "references": [["CH-1", "other"]],
        },
    ),
    Reads(
        "e-mailed Amex about the refund, no reply yet",
        {"channel": "email", "organization": "American Express"},
    ),
    Reads(
        "amex emailed me, ref E-77",
        {
            "channel": "email",
            "direction": "in",
            "organization": "American Express",
            "references": [["E-77", "other"]],
        },
    ),
    Reads(
        "called amex for 15 minutes, ref F-15",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["F-15", "call"]],
            "duration": 900,
        },
    ),
    Reads(
        "called amex, case no. 55-1234, they'll send a letter within 7 days",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["55-1234", "call"]],
            "promises": [["send a letter", "company", "within 7 days"]],
        },
    ),
    Reads(
        "called amex, spoke to Dana, I'll call back on Tuesday if nothing",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Dana",
            "follow_up": ["call back if nothing", "on Tuesday"],
        },
    ),
    Reads(
        "called amex, ref ABC-12345, credit before Dec 24",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["ABC-12345", "call"]],
            "promises": [["credit", "company", "by Dec 24"]],
        },
    ),
    Reads(
        "Called AmEx re: double charge, agent Bob #4471, ref 5544",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Bob",
            "agent_id": "4471",
            "references": [["5544", "call"]],
        },
    ),
    Reads(
        "called amex, spoke to Jen, she gave me ref ABC-9 and said credit within 10 business days",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Jen",
            "references": [["ABC-9", "call"]],
            "promises": [["credit", "company", "within 10 business days"]],
        },
    ),
    Reads(
        "called amex about the ACME charge, dispute number 88-1-2026, provisional credit tomorrow",
        {
            "channel": "phone",
            "organization": "American Express",
            "references": [["88-1-2026", "dispute"]],
            "promises": [["provisional credit", "company", "tomorrow"]],
        },
    ),
    Reads(
        "chatted with amex, transcript emailed, ref CHAT-1",
        {
            "channel": "chat",
            "organization": "American Express",
            "references": [["CHAT-1", "other"]],
        },
    ),
    Reads(
        "called amex, no reference given, call back on Friday",
        {
            "channel": "phone",
            "organization": "American Express",
            "follow_up": ["call back", "on Friday"],
        },
    ),
    Reads(
        "called amex 2 hours on hold, hung up",
        {"channel": "phone", "organization": "American Express"},
    ),
    Reads(
        "called amex, spoke to supervisor Linda, complaint ref C-55, final response in 8 weeks",
        {
            "channel": "phone",
            "organization": "American Express",
            "agent": "Linda",
            "references": [["C-55", "complaint"]],
            "promises": [["final response", "company", "in 8 weeks"]],
        },
    ),
]
