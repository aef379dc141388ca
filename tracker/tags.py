"""Tags: words a case is filed under (`travel`, `urgent`), and the case list's filter.

A tag is normalised by tracker.values.parse_tag (NFKC, lower case, one word, at most 40
characters; one holding card data is refused). A case has a tag once (a unique constraint);
tagging it again with a tag it has is no change, and untagging a tag it lacks neither.
Each command that changes something is one change (tracker.history): one `tagged` or
`untagged` event per tag, which `tracker undo` reverts (an untagged tag comes back as it
was, with its id and time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from tracker.history import Tagged, Untagged, begin_change
from tracker.models import Case, Tag
from tracker.values import parse_tag


@dataclass
class TagChange:
    """What tag or untag did: the tags changed, those left as they were, and the case's
    tags afterwards."""

    case_id: int
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def parse_tags(words: Iterable[str]) -> list[str]:
    """Each word as a tag (UsageError for the first that is not one), repeats dropped."""
    return list(dict.fromkeys(parse_tag(word) for word in words))


def case_tags(session: Session, case_id: int) -> list[str]:
    return list(session.scalars(select(Tag.tag).where(Tag.case_id == case_id).order_by(Tag.tag)))


def _rows(session: Session, case_id: int) -> dict[str, Tag]:
    return {t.tag: t for t in session.scalars(select(Tag).where(Tag.case_id == case_id))}


def tag_case(
    session: Session, case: Case, words: Sequence[str], *, now: datetime | None = None
) -> TagChange:
    """Add the tags the case does not have yet; one change, if any is new."""
    wanted = parse_tags(words)
    have = _rows(session, case.id)
    result = TagChange(case.id, unchanged=[t for t in wanted if t in have])
    new = [t for t in wanted if t not in have]
    if new:
        log = begin_change(session, f"case tag {case.id} {' '.join(new)}", now=now)
        for tag in new:
            row = Tag(case_id=case.id, tag=tag, created_at=log.now)
            session.add(row)
            session.flush()
            log.record(case, Tagged(created=("tags", row.id), tag=tag), f"Tagged {tag}")
        log.touch(case)
        result.changed = new
    result.tags = case_tags(session, case.id)
    return result


def untag_case(
    session: Session, case: Case, words: Sequence[str], *, now: datetime | None = None
) -> TagChange:
    """Remove the tags the case has; one change, if it has any of them."""
    wanted = parse_tags(words)
    have = _rows(session, case.id)
    result = TagChange(case.id, unchanged=[t for t in wanted if t not in have])
    gone = [t for t in wanted if t in have]
    if gone:
        log = begin_change(session, f"case untag {case.id} {' '.join(gone)}", now=now)
        for tag in gone:
            row = have[tag]
            log.record(
                case,
                Untagged(tag=tag, tag_id=row.id, tagged_at=row.created_at),
                f"Untagged {tag}",
            )
            session.delete(row)
        session.flush()
        log.touch(case)
        result.changed = gone
    result.tags = case_tags(session, case.id)
    return result


def has_tags(tags: Sequence[str]) -> ColumnElement[bool]:
    """SQL: the case has every one of `tags` (already parsed)."""
    return and_(*(exists().where(Tag.case_id == Case.id, Tag.tag == tag) for tag in tags))
