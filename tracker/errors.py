"""Error classes. Each carries the exit code the CLI turns it into (see docs/contract.md)."""

from __future__ import annotations


class TrackerError(Exception):
    """A failure the user should see as one `Error:` line."""

    exit_code = 1


class UsageError(TrackerError):
    """Bad input: an unknown category, a bad date, a bad amount. Exit 2."""

    exit_code = 2


class NotFound(TrackerError):
    """No such case, promise, organization. Exit 1."""


class Conflict(TrackerError):
    """Valid, but the case's state refuses it (a closed case, nothing to undo). Exit 1."""


class CaseNotActive(Conflict):
    """The case is resolved or closed, and the action needs an active case. Exit 1."""

    def __init__(self, case_id: int, status: str, action: str | None = None) -> None:
        self.case_id = case_id
        self.status = status
        self.action = action
        super().__init__(self.words())

    def words(self, hint: str = "") -> str:
        """The message, with `hint` (how to reopen it) after "reopen it first"."""
        text = f"case {self.case_id} is {self.status}; reopen it first{hint}"
        return f"{text} to {self.action}" if self.action else text


class CardLikeReference(UsageError):
    """A reference number that looks like a card number or security code. Exit 2.

    Refused rather than masked, so that no reference number is silently destroyed; the
    command line says how to keep it if it is not a card.
    """

    def __init__(self, masked: str, why: str) -> None:
        self.masked = masked
        self.why = why
        super().__init__(self.words())

    def words(self, hint: str = "") -> str:
        text = f"the reference '{self.masked}' looks like card data ({self.why}); nothing was saved"
        return f"{text}. {hint}" if hint else text


class DatabaseBusy(TrackerError):
    """Another process held the database longer than the busy timeout. Exit 1."""

    def __init__(self, message: str = "database is busy, try again") -> None:
        super().__init__(message)


class StoreError(TrackerError):
    """The store cannot be used: newer than this code, unreadable, missing driver. Exit 1."""


class StoreMissing(StoreError):
    """There is no store at the location: a read needs one (the first write makes it). Exit 1."""


class StoreReadOnly(StoreError):
    """The store can be read but not changed (a read-only file, folder or file system). Exit 1."""


class NotAStore(StoreError):
    """The location holds something else: another program's database, or a file that is not a
    database. It is refused and left untouched. Exit 1."""


class BadStoreLocation(UsageError):
    """The location can never be a store: a malformed or in-memory URL, a folder. Exit 2."""
