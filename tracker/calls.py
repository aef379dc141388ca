"""A call in progress (`tracker call`): a contact saved answer by answer.

Nothing typed during a call may be lost to a closed terminal or a killed process, so each
answer is its own write transaction. The whole call is still one change for `tracker undo`:
the first transaction writes the contact as a draft (``Interaction.draft``) under a new
Change, and every later one reopens that Change and records its events (a reference, a
promise, a follow-up) under it. Undo reverts the newest change, so it takes back the whole
call, draft or finished, at once.

The contact's own event is written with the draft and rewritten as the call fills the
contact in (the agent, the references): the one event that is updated, while its change is
still the open call's. Finishing clears the draft flag; a draft left behind is what the next
`tracker call` offers to finish, and `case show` flags it.

Like every service here, each function works in the caller's transaction and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import cases as svc
from tracker.errors import Conflict, NotFound
from tracker.history import ChangeLog, Contacted
from tracker.models import Case, Change, Event, FollowUp, Interaction, Promise, Reference
from tracker.redact import Masker
from tracker.values import optional_text

# What each part of the conversation is written as, one line per line typed.
SPEAKERS = {"me": "Me", "them": "Them", "next": "Next"}
SUMMARY_LIMIT = 100_000


def start_call(
    session: Session, case: Case, *, masker: Masker, via: str | None, now: datetime
) -> Interaction:
    """The call's contact, written at once as a draft: a phone call out, starting now."""
    interaction = svc.log_interaction(
        session,
        case,
        channel="phone",
        masker=masker,
        via=via,
        now=now,
        command=f"call {case.id}",
    )
    interaction.draft = True
    return interaction


def drafts(session: Session, case_id: int | None = None) -> list[Interaction]:
    """Unfinished calls, newest first (of one case, or of every case)."""
    stmt = select(Interaction).where(Interaction.draft.is_(True))
    if case_id is not None:
        stmt = stmt.where(Interaction.case_id == case_id)
    return list(session.scalars(stmt.order_by(Interaction.at.desc(), Interaction.id.desc())))


@dataclass
class Call:
    """One transaction's hold on a call: its contact, its case and its change, reopened."""

    session: Session
    case: Case
    interaction: Interaction
    log: ChangeLog
    event: Event

    def references(self) -> list[Reference]:
        return [r for r in self.case.references if r.interaction_id == self.interaction.id]

    def promises(self) -> list[Promise]:
        return [p for p in self.case.promises if p.interaction_id == self.interaction.id]

    def set_agent(self, name: str | None, masker: Masker) -> None:
        self.interaction.agent_name = optional_text(
            name, masker, what="the agent's name", limit=200
        )
        self._rewrite()

    def set_agent_id(self, agent_id: str | None, masker: Masker) -> None:
        self.interaction.agent_id = optional_text(
            agent_id, masker, what="the agent's id", limit=100
        )
        self._rewrite()

    def add_line(self, speaker: str, line: str, masker: Masker) -> None:
        """One line of what was said (`speaker`: me, them, next), masked, added at the end."""
        text = optional_text(line, masker, what="the summary")
        if text is None:
            return
        entry = f"{SPEAKERS[speaker]}: {text}"
        current = self.interaction.summary
        summary = f"{current}\n{entry}" if current else entry
        if len(summary) > SUMMARY_LIMIT:
            raise Conflict("the call's notes are full; add more with tracker case note")
        self.interaction.summary = summary
        self._rewrite()

    def add_reference(self, value: str) -> Reference | None:
        added = svc.add_reference(
            self.session, self.case, value, kind="call", interaction=self.interaction, log=self.log
        )
        self._rewrite()
        return added

    def add_promise(
        self,
        text: str,
        due: datetime,
        masker: Masker,
        *,
        promised_by: str = "company",
        window_start: datetime | None = None,
        calendar: str | None = None,
    ) -> Promise:
        made = svc.make_promise(
            self.session,
            self.case,
            text,
            due,
            masker=masker,
            promised_by=promised_by,
            interaction=self.interaction,
            log=self.log,
            window_start=window_start,
            calendar=calendar,
        )
        self._rewrite()
        return made

    def add_follow_up(self, due: datetime, text: str | None, masker: Masker) -> FollowUp:
        made = svc.set_follow_up(self.session, self.case, due, text, masker=masker, log=self.log)
        self._rewrite()
        return made

    def set_duration(self, duration: timedelta) -> None:
        self.interaction.duration_seconds = max(0, int(duration.total_seconds()))

    def finish(self, duration: timedelta) -> None:
        self.set_duration(duration)
        self.interaction.draft = None
        self._rewrite()

    def _rewrite(self) -> None:
        """The contact's event, said again with what the call has gathered so far."""
        self.session.flush()
        refs = [r.value for r in self.references()]
        payload = Contacted.from_json(self.event.data)
        self.event.data = {
            **payload.to_json(),
            "agent": self.interaction.agent_name,
            "reference": ", ".join(refs) or None,
        }
        self.event.data = {k: v for k, v in self.event.data.items() if v is not None}
        self.event.summary = svc.contact_headline(self.interaction)
        self.log.touch(self.case)


def reopen(session: Session, interaction_id: int, *, now: datetime) -> Call:
    """The call whose contact is `interaction_id`, its case locked, for one more answer.

    Conflict when the call was undone meanwhile (its contact is gone) or is finished.
    """
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound(f"the call's contact {interaction_id} is gone (undone?); nothing was saved")
    case = svc.get_case(session, interaction.case_id, for_update=True)
    session.refresh(interaction)
    if not interaction.draft:
        raise Conflict(f"contact {interaction_id} is not an unfinished call")
    events = session.scalars(
        select(Event).where(Event.case_id == case.id, Event.type == "interaction")
    ).all()
    event = next(
        (e for e in events if e.data.get("created") == ["interactions", interaction_id]), None
    )
    change = session.get(Change, event.change_id) if event is not None else None
    if event is None or change is None or change.reverted_by_id is not None:
        raise Conflict(f"the call of contact {interaction_id} has no history to add to")
    # The case was snapshotted by the call's first event: undo puts back that state.
    log = ChangeLog(session=session, change=change, now=now, _snapshotted={case.id})
    return Call(session=session, case=case, interaction=interaction, log=log, event=event)
