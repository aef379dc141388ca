"""The schema. Every table the CLI contract needs; later features add little schema.

Times are stored in UTC (UTCDateTime), amounts as exact decimal text (DecimalText):
SQLite has no exact decimal type and SQLAlchemy's Numeric goes through float there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The Alembic revision this code's schema corresponds to. A test checks it equals the
# migrations' head, so the start-up path can skip importing Alembic when the store is current.
SCHEMA_REVISION = "0010"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC; always read back aware (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite stores text: keep it naive UTC so that text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal stored as its canonical text."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        Decimal: DecimalText(),
        dict[str, Any]: JSON(),
    }


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower-cased name: organizations are matched case-insensitively, on every backend.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    # The part of the country whose public holidays count (ISO 3166-2, e.g. SCT).
    subdivision: Mapped[str | None] = mapped_column(String(10))
    website: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="organization",
        cascade="all, delete-orphan",
        order_by="ContactPoint.position",
    )


class ContactPoint(Base):
    """One way to reach an organization: a phone line, a chat, a postal address, a regulator."""

    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("organization_id", "kind", "value", "region"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(500))
    label: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(50))
    hours: Mapped[str | None] = mapped_column(String(100))
    collect_calls: Mapped[bool] = mapped_column(Boolean, default=False)
    # Space-separated categories this point serves ("any" for all of them).
    categories: Mapped[str] = mapped_column(String(300), default="any")
    # The escalation rung this point is for (frontline, supervisor, complaint, regulator).
    level: Mapped[str] = mapped_column(String(20), default="frontline")
    notes: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)

    organization: Mapped[Organization] = relationship(back_populates="contact_points")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_last_activity_at", "status", "last_activity_at"),
        Index("ix_cases_last_activity_at", "last_activity_at"),
    )

    noun: ClassVar[tuple[str, str]] = ("case", "cases")

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    category: Mapped[str] = mapped_column(String(30), default="other")
    status: Mapped[str] = mapped_column(String(20), default="open")
    escalation_level: Mapped[str] = mapped_column(String(20), default="frontline")
    # Name of the escalation policy to use instead of the category's default.
    policy: Mapped[str | None] = mapped_column(String(100))
    # The user is abroad for this case (offer the international numbers); None: the user's
    # country in the config file decides.
    abroad: Mapped[bool | None] = mapped_column(Boolean)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_interaction_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(Text)
    account_last4: Mapped[str | None] = mapped_column(String(4))
    amount: Mapped[Decimal | None] = mapped_column()
    currency: Mapped[str | None] = mapped_column(String(3))
    merchant: Mapped[str | None] = mapped_column(Text)
    transaction_date: Mapped[date | None] = mapped_column(Date)

    organization: Mapped[Organization | None] = relationship()
    interactions: Mapped[list[Interaction]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(Interaction.at, Interaction.id)",
    )
    references: Mapped[list[Reference]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Reference.id",
    )
    promises: Mapped[list[Promise]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Promise.id",
    )
    follow_ups: Mapped[list[FollowUp]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FollowUp.id",
    )
    notes: Mapped[list[Note]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Note.id",
    )
    tags: Mapped[list[Tag]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Tag.tag",
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Attachment.id",
    )
    events: Mapped[list[Event]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Event.id",
    )


class Interaction(Base):
    """One exchange with the organization (CLI: `case contact`)."""

    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_case_id_at", "case_id", "at"),)

    noun: ClassVar[tuple[str, str]] = ("contact", "contacts")

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column()
    channel: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(3), default="out")
    via: Mapped[str | None] = mapped_column(String(500))
    agent_name: Mapped[str | None] = mapped_column(String(200))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # True while `tracker call` is filling it in (or was, until a crash): None when done.
    draft: Mapped[bool | None] = mapped_column(Boolean)

    case: Mapped[Case] = relationship(back_populates="interactions")


class Reference(Base):
    """A reference number the organization gave."""

    __tablename__ = "reference_numbers"
    __table_args__ = (UniqueConstraint("case_id", "value"),)

    noun: ClassVar[tuple[str, str]] = ("reference", "references")

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    value: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="other")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="references")


class Promise(Base):
    """An action someone committed to, with a due time."""

    __tablename__ = "promises"
    __table_args__ = (
        Index("ix_promises_status_due_at", "status", "due_at"),
        Index("ix_promises_case_id", "case_id"),
    )

    noun: ClassVar[tuple[str, str]] = ("promise", "promises")

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    promised_by: Mapped[str] = mapped_column(String(10), default="company")
    due_at: Mapped[datetime] = mapped_column()
    # A promise given as a range ("7-10 business days") is due at its end; this is its start.
    window_start: Mapped[datetime | None] = mapped_column()
    # The holiday calendar its business days were counted on (US, GB-ENG, weekdays).
    calendar: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    status_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="promises")

    # The one overdue rule (README, "Overdue"): a pending promise is overdue from the moment
    # its due time passes. `case show`, `case list --overdue`, `due`, the daemon and letters
    # all ask here. (The policy's grace period is when an overdue promise counts as broken
    # for the escalation thresholds, and when the daemon's "overdue" reminder comes.)
    def is_overdue(self, now: datetime) -> bool:
        return self.overdue_rule(self.status, self.due_at, now)

    @staticmethod
    def overdue_rule(status: str, due_at: datetime, now: datetime) -> bool:
        """:meth:`is_overdue` for a promise read as plain columns (due, the daemon)."""
        return status == "pending" and due_at < now

    def state(self, now: datetime) -> str:
        """pending, overdue (computed), kept, broken or cancelled."""
        return "overdue" if self.is_overdue(now) else self.status

    @classmethod
    def overdue_at(cls, now: datetime) -> ColumnElement[bool]:
        """:meth:`is_overdue` as SQL."""
        return and_(cls.status == "pending", cls.due_at < now)

    @staticmethod
    def reminder_claims(promise_id: int) -> ColumnElement[bool]:
        """The reminders table's claims on this promise (tracker.reminders names the keys)."""
        return Reminder.key.startswith(f"promise:{promise_id}:")


class FollowUp(Base):
    """A reminder the user set on a case."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_status_due_at", "status", "due_at"),
        Index("ix_follow_ups_case_id", "case_id"),
    )

    noun: ClassVar[tuple[str, str]] = ("follow-up", "follow-ups")

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column()
    text: Mapped[str | None] = mapped_column(Text)
    # pending, fired (its reminder was shown), done or cancelled (tracker.followups).
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # When it was last marked done, cancelled or snoozed (None: never).
    status_at: Mapped[datetime | None] = mapped_column()
    # The due time it had before its last snooze (None: never snoozed).
    snoozed_from: Mapped[datetime | None] = mapped_column()
    # The reminder it brings back (`tracker snooze CASE`), by its key: "promise:3:overdue".
    again_of: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="follow_ups")

    def state(self) -> str:
        """pending, snoozed (pending at a new time), fired, done or cancelled."""
        return "snoozed" if self.status == "pending" and self.snoozed_from else self.status

    @staticmethod
    def reminder_claims(follow_up_id: int) -> ColumnElement[bool]:
        """The reminders table's claim on this follow-up (tracker.reminders names the key)."""
        return Reminder.key == f"follow_up:{follow_up_id}"


class Note(Base):
    __tablename__ = "notes"

    noun: ClassVar[tuple[str, str]] = ("note", "notes")

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="notes")


class Tag(Base):
    """A word the user files a case under (tracker.tags normalises it: `travel`, `urgent`)."""

    __tablename__ = "tags"
    __table_args__ = (
        UniqueConstraint("case_id", "tag"),
        Index("ix_tags_tag", "tag"),
    )

    noun: ClassVar[tuple[str, str]] = ("tag", "tags")

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="tags")


class Attachment(Base):
    """A piece of evidence on a case: a statement, a receipt, a transcript, a letter sent.

    The bytes live apart (tracker.evidence), named by the SHA-256 of what was stored:
    ``sha256`` is that copy's hash, ``original_sha256`` the hash of the file as the user
    gave it (they differ when a card number was masked out of a text before storing it),
    ``masked`` how many card numbers and security codes were masked.
    """

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_sha256", "sha256"),)

    noun: ClassVar[tuple[str, str]] = ("attachment", "attachments")

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20), default="other")
    filename: Mapped[str] = mapped_column(String(500))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    original_sha256: Mapped[str] = mapped_column(String(64))
    masked: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    """An email's Message-ID (`tracker import email` skips a message already recorded)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="attachments")


class Blob(Base):
    """The bytes of stored evidence, by their SHA-256, on a PostgreSQL store (a shared store
    shares its evidence). A SQLite store keeps them as files beside it instead
    (tracker.evidence), and this table stays empty there."""

    __tablename__ = "attachment_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Change(Base):
    """One command's worth of events: the unit `tracker undo` reverts.

    Its id is also the store's change counter: the daemon polls max(id) to notice new work.
    """

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    command: Mapped[str] = mapped_column(String(200))
    undoable: Mapped[bool] = mapped_column(Boolean, default=True)
    reverted_by_id: Mapped[int | None] = mapped_column(ForeignKey("changes.id"))

    events: Mapped[list[Event]] = relationship(back_populates="change", order_by="Event.id")


class Event(Base):
    """One line of a case's history. Append-only: rows are never updated, but for the event
    of a draft contact, which `tracker call` rewrites as the call fills it in (its own change
    is still open: tracker.calls)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_case_id_id", "case_id", "id"),
        Index("ix_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"), index=True)
    # NULL only for an `undone` event whose case the undo removed.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    type: Mapped[str] = mapped_column(String(30))
    summary: Mapped[str] = mapped_column(Text, default="")
    # What undo needs (the row created, the state before) and what exports show
    # (channel, agent, reference, due time, promise status).
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    case: Mapped[Case | None] = relationship(back_populates="events")
    change: Mapped[Change] = relationship(back_populates="events")

    @property
    def undone(self) -> bool:
        """Whether `tracker undo` later reverted the command that wrote this event."""
        return self.change.reverted_by_id is not None


class Reminder(Base):
    """A claim on one reminder occurrence: the row is what makes a reminder fire once.

    key names the occurrence ("follow_up:12", "promise:3:due", "promise:3:overdue",
    "threshold:1:fcba-acknowledge"). A claim with shown_at NULL whose lease passed can be
    taken over (its daemon died between claiming and showing). notification_id is the
    notification server's id for the notification that showed it (None: the notifier has none).
    """

    __tablename__ = "reminders"
    __table_args__ = (
        Index("ix_reminders_shown_at_next_attempt_at", "shown_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    due_at: Mapped[datetime] = mapped_column()
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str] = mapped_column(String(200))
    shown_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    notification_id: Mapped[str | None] = mapped_column(String(100))


# SQLite must never hand out a deleted row's id again (undo deletes rows): AUTOINCREMENT on
# every table with an id (migration 0002). PostgreSQL sequences never reuse ids.
for _table in Base.metadata.tables.values():
    if "id" in _table.c:
        _table.dialect_options["sqlite"]["autoincrement"] = True
