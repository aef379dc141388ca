"""`tracker call`: a guided call, saved answer by answer (tracker.calls).

Plain line prompts (input()), so it works in any terminal, 80x24 included, and a test can
drive it through a pseudo-terminal. The elapsed time is shown at every prompt rather than
redrawn by a thread, which could garble what the user is typing.
"""

from __future__ import annotations

import functools
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import click

from tracker import calls
from tracker import cases as svc
from tracker.advice import call_checklist, describe_contact, number_to_call
from tracker.calls import Call
from tracker.cli.case import CATEGORY, _due, _due_words
from tracker.cli.common import WhenInput, masked_change, store
from tracker.directory import display_value
from tracker.errors import CardLikeReference, UsageError
from tracker.models import Interaction, utcnow
from tracker.redact import Masker, mask
from tracker.when import WhenError, format_local, parse_duration

T = TypeVar("T")
WIDTH = 78  # an 80-column terminal, with room for the cursor


class _Left(Exception):
    """The user left the call (Ctrl-C, Ctrl-D): what was typed is saved, as a draft."""


class _Clock:
    """The call's running time: monotonic, from `offset` (what a resumed draft had)."""

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self.started = time.monotonic()
        self.offset = offset

    def elapsed(self) -> timedelta:
        return self.offset + timedelta(seconds=int(time.monotonic() - self.started))

    def shown(self) -> str:
        seconds = int(self.elapsed().total_seconds())
        hours, rest = divmod(seconds, 3600)
        return (
            f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
            if hours
            else f"{rest // 60:02d}:{rest % 60:02d}"
        )


def _say(text: str = "", indent: str = "") -> None:
    if not text:
        click.echo("")
        return
    for line in textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  "):
        click.echo(line)


def _error(exc: Exception) -> None:
    _say(f"Error: {mask(str(exc))}")


def _warn(masker: Masker) -> None:
    if masker.warning:
        _say(f"Warning: {mask(masker.warning)}")


def _minutes(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes = (rest + 30) // 60 if seconds >= 60 else 0
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


@click.command()
@click.argument("target", required=False, metavar="[CASE|TITLE]")
@click.option(
    "--org",
    "organization",
    metavar="NAME",
    help="Open a case with this organization and call at once (TITLE is the case's title).",
)
@click.option("--category", type=CATEGORY, help="The new case's category (with --org).")
def call(target: str | None, organization: str | None, category: str | None) -> None:
    """Guide a phone call while you are on it, saving every answer as you type it.

    Shows the number to dial and what to have ready, then asks, one at a time and each
    skippable with Enter: the agent's name and id, what you said, what they said, the
    reference numbers, what they promised and by when ('7-10 business days', 'by Friday'),
    your next steps and a follow-up. The time on the call is shown at every prompt and
    recorded at the end.

    Every answer is saved the moment you press Enter: Ctrl-C, a closed terminal or a crash
    leaves the call as a draft, which the next `tracker call` offers to finish and
    `tracker case show` flags. The whole call is one change: `tracker undo` takes it back.

    It needs a terminal; from a script, record the call with `tracker case contact`.

    \b
    Examples:
      tracker call 1
      tracker call --org "American Express" --category dispute "Charge at ACME twice"
      tracker call          (finish the last unfinished call)
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "tracker call asks questions and needs a terminal; from a script or a pipe, "
            "record the call with: tracker case contact CASE --channel phone --agent NAME "
            "--ref REF --summary TEXT"
        )
    if category is not None and organization is None:
        raise click.UsageError("--category goes with --org (to open a case)")
    case_id = _target(target, organization, category)
    try:
        _run(case_id)
    except _Left:
        raise click.exceptions.Exit(130) from None


def _target(target: str | None, organization: str | None, category: str | None) -> int | None:
    """The case to call about: a number, a new case (--org), or None (finish a draft)."""
    if organization is not None:
        if not target:
            raise click.UsageError("give the new case's title: tracker call --org NAME TITLE")
        with masked_change() as (session, masker):
            opened = svc.open_case(
                session,
                title=target,
                masker=masker,
                organization=organization,
                category=category or "other",
            )
            session.flush()
            case_id = opened.id
        click.echo(f"Opened case {case_id}.")
        return case_id
    if target is None:
        return None
    text = target.strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise click.UsageError(
            f"'{target}' is not a case number; to open a case and call, add --org NAME"
        )
    return int(text)


def _ask(clock: _Clock, prompt: str) -> str:
    try:
        return input(f"[{clock.shown()}] {prompt}: " if prompt else f"[{clock.shown()}] > ").strip()
    except (KeyboardInterrupt, EOFError):
        raise _Left from None


def _run(case_id: int | None) -> None:
    with store().read() as session:
        pending = calls.drafts(session, case_id)
        offer = (
            (pending[0].id, pending[0].case_id, pending[0].duration_seconds or 0)
            if pending
            else None
        )
        described = _draft_words(pending[0]) if pending else ""
    if case_id is None and offer is None:
        raise UsageError(
            "no unfinished call; say which case to call about: tracker call CASE (or "
            "tracker call --org NAME TITLE to open one)"
        )
    clock = _Clock()
    interaction_id: int | None = None
    if offer is not None:
        draft_id, draft_case, seconds = offer
        _say(f"Case {draft_case} has an unfinished call: {described}.")
        try:
            reply = input("Finish it? [Y/n] ").strip().lower()
        except (KeyboardInterrupt, EOFError):
            raise _Left from None
        if reply in ("", "y", "yes"):
            interaction_id, case_id = draft_id, draft_case
            clock = _Clock(timedelta(seconds=seconds))
        elif case_id is None:
            _say(f"The draft stays; tracker call {draft_case} finishes it.")
            return
    assert case_id is not None
    if interaction_id is None:
        interaction_id = _start(case_id)
        clock = _Clock()
    else:
        _say(f"Finishing the call (contact {interaction_id}); Enter keeps what is there.")
    try:
        _questions(interaction_id, clock)
    except _Left:
        click.echo("")
        _say(f"The call is saved as a draft (contact {interaction_id} on case {case_id}).")
        click.echo(f"Finish it with: tracker call {case_id}")
        raise


def _draft_words(draft: Interaction) -> str:
    parts = [f"contact {draft.id}, started {format_local(draft.at)}"]
    if draft.agent_name:
        parts.append(f"agent {draft.agent_name}")
    refs = [r.value for r in draft.case.references if r.interaction_id == draft.id]
    if refs:
        parts.append("ref " + ", ".join(refs))
    return ", ".join(parts)


def _start(case_id: int) -> int:
    """Before the call: the number and the checklist; then the draft, saved at once."""
    now = utcnow()
    masker = Masker()
    with store().write() as session:
        case = svc.get_case(session, case_id, for_update=True)
        org = case.organization.name if case.organization else "no organization"
        lines = [f"Case {case.id}: {case.title} ({org}, {case.escalation_level})"]
        point = number_to_call(session, case)
        if point is not None:
            lines.append("Dial: " + describe_contact(point).removeprefix("call "))
            via = display_value(point)
        else:
            lines.append("The directory has no number to call for this case (org import FILE).")
            via = None
        lines.append("Have ready: " + "; ".join(call_checklist(case)) + ".")
        lines.append("Never say or note your security code (CID/CVV) or PIN.")
        # Written first: a closed case is refused before anything is shown.
        started = calls.start_call(session, case, masker=masker, via=via, now=now)
        session.flush()
        interaction_id = started.id
    for line in lines:
        _say(line)
    _warn(masker)
    _say(
        f"Call started at {format_local(now)[11:]} (contact {interaction_id}). Every answer "
        "is saved as you press Enter; Enter alone skips a question; Ctrl-C stops and keeps "
        "the draft."
    )
    return interaction_id


class _Saver:
    """One write transaction per answer, on the reopened call (tracker.calls.reopen)."""

    def __init__(self, interaction_id: int, clock: _Clock) -> None:
        self.interaction_id = interaction_id
        self.clock = clock

    def __call__(self, action: Callable[[Call, Masker], T]) -> T:
        masker = Masker()
        with store().write() as session:
            call = calls.reopen(session, self.interaction_id, now=utcnow())
            call.set_duration(self.clock.elapsed())
            result = action(call, masker)
        _warn(masker)
        return result

    def retrying(self, prompt: str, action: Callable[[Call, Masker, str], T]) -> tuple[T] | None:
        """Ask until the answer is saved, then (what the action returned,); None when the
        question is skipped (Enter). A bad answer is said and asked again, never fatal."""
        while True:
            answer = _ask(self.clock, prompt)
            if not answer:
                return None
            try:
                return (self(functools.partial(_with_answer, action, answer)),)
            except CardLikeReference as exc:
                _error(exc)
                _say(
                    "If it is a reference number and not a card, add it after the call "
                    "with: tracker case ref CASE REF --not-a-card"
                )
            except (UsageError, WhenError) as exc:
                _error(exc)


def _questions(interaction_id: int, clock: _Clock) -> None:
    save = _Saver(interaction_id, clock)
    now_state = save(lambda call, masker: (call.interaction.agent_name, call.interaction.agent_id))
    agent, agent_id = now_state
    shown_agent = f" [{agent}]" if agent else ""
    save.retrying(
        f"Agent's name{shown_agent or ' (ask for it)'}",
        lambda call, masker, text: call.set_agent(text, masker),
    )
    shown_id = f" [{agent_id}]" if agent_id else ""
    save.retrying(
        f"Agent's id or badge{shown_id}", lambda call, masker, text: call.set_agent_id(text, masker)
    )
    for speaker, prompt in (("me", "What you said"), ("them", "What they said")):
        _lines(save, speaker, prompt)
    _references(save)
    _promises(save)
    _lines(save, "next", "Your next steps")
    _follow_up(save)
    _remind(save)
    _finish(save)


def _lines(save: _Saver, speaker: str, prompt: str) -> None:
    """Several lines, each saved as it is entered, until an empty one."""
    _say(f"{prompt}, a line at a time (an empty line ends):")
    while save.retrying("", lambda call, masker, text: call.add_line(speaker, text, masker)):
        pass


def _references(save: _Saver) -> None:
    while True:
        added = save.retrying(
            "Reference number", lambda call, masker, text: call.add_reference(text)
        )
        if added is None:
            return
        if added[0] is None:
            _say("The case has that reference already.")


def _promises(save: _Saver) -> None:
    while True:
        text = _ask(save.clock, "What did they promise (Enter: nothing more)")
        if not text:
            return
        made = save.retrying(
            "By when (e.g. '7-10 business days', 'by Friday')",
            functools.partial(_promise, text=text),
        )
        if made is not None:
            _say(made[0], "  ")


def _with_answer(
    action: Callable[[Call, Masker, str], T], answer: str, call: Call, masker: Masker
) -> T:
    return action(call, masker, answer)


def _promise(call: Call, masker: Masker, when: str, *, text: str) -> str:
    now = call.log.now
    calendar = svc.case_calendar(call.case)
    window = _due(WhenInput(when, "the promise's time"), now, now, calendar, backdated=False)
    made = call.add_promise(
        text,
        window.end,
        masker,
        window_start=window.start,
        calendar=calendar.key if window.business_days else None,
    )
    return f"Promise {made.id}: {made.text}, {_due_words(made, now)}."


def _follow_up(save: _Saver) -> None:
    def set_it(call: Call, masker: Masker, when: str) -> str:
        now = call.log.now
        window = _due(
            WhenInput(when, "the follow-up's time"),
            now,
            now,
            svc.case_calendar(call.case),
            backdated=False,
        )
        made = call.add_follow_up(window.end, "call back if nothing happened", masker)
        return f"Follow-up {made.id} on {format_local(made.due_at)}."

    done = save.retrying(
        "Remind you to follow up when (e.g. 'the 15th', 'in 3 days'; Enter: no)", set_it
    )
    if done is not None:
        _say(done[0], "  ")


def _remind(save: _Saver) -> None:
    """The guide: always ask for a reference number (and who you spoke to)."""
    missing = save(lambda call, masker: (not call.references(), not call.interaction.agent_name))
    no_ref, no_agent = missing
    if no_ref:
        _say("No reference number yet: ask for one before you hang up.")
        _references(save)
    if no_agent:
        _say("No agent's name yet: ask who you are speaking to.")
        save.retrying("Agent's name", lambda call, masker, text: call.set_agent(text, masker))


def _finish(save: _Saver) -> None:
    while True:
        shown = _minutes(save.clock.elapsed())
        answer = _ask(save.clock, f"Call length [{shown}]")
        if not answer:
            duration = save.clock.elapsed()
            break
        try:
            duration = parse_duration(answer)
            break
        except WhenError as exc:
            _error(exc)
    summary = save(lambda call, masker: _finished(call, duration))
    for line in summary:
        _say(line)


def _finished(call: Call, duration: timedelta) -> list[str]:
    call.finish(duration)
    i = call.interaction
    head = f"Recorded contact {i.id} on case {call.case.id}: phone, {_minutes(duration)}"
    if i.agent_name:
        head += f", agent {i.agent_name}"
    if i.agent_id:
        head += f" (id {i.agent_id})"
    refs = [r.value for r in call.references()]
    head += f", ref {', '.join(refs)}" if refs else ", no reference number"
    lines = [head + "."]
    for promise in call.promises():
        lines.append(f"Promise {promise.id}: {promise.text}, {_due_words(promise, call.log.now)}.")
    lines.append(
        f"Case {call.case.id} is {call.case.status}. tracker undo takes back the whole call."
    )
    return lines
