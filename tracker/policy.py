"""Escalation thresholds: when a case should move up a rung, and what to suggest.

Policies are data: the built-in ones are in ``tracker/policies.toml`` (read with tomllib), and
a user's file (``policy.toml`` in the config folder, or ``--policy FILE``) is laid over them:
a policy of the same name has its keys replaced one by one, a threshold of the same id in it
likewise, and new policies, thresholds and category mappings are added.

A threshold is crossed at an instant computed from the case alone (no clock): ``after`` a
span ``since`` an anchor (opening, the last contact, the last escalation, the first broken
promise), and/or once ``broken_promises`` promises are broken; and only at the ``levels``
it names. So the same pure function answers `tracker due` ("crossed by now + 7 days") and the
daemon ("when is the next one").

Everything this module suggests is guidance, not legal advice, and says so.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any

from tracker.config import config_dir, expand_user
from tracker.errors import UsageError
from tracker.redact import redact
from tracker.values import COUNTRIES
from tracker.vocabulary import CATEGORIES, LEVELS
from tracker.when import WEEKDAYS, Calendar, local_zone

DISCLAIMER = "Guidance, not legal advice."
USER_POLICY_FILE = "policy.toml"

# Anchors a threshold can count from.
SINCE = ("opened", "notice", "last_interaction", "escalated", "promise_broken")
"""`notice`: the first billing-error notice sent (`case letter --kind billing-error --sent`),
else the opening (a case opened --at the day the notice was sent)."""

_SPAN = re.compile(r"\s*(\d{1,5})\s*(bd|d|w|h)\s*", re.IGNORECASE)
_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,79}")
_UNIT_NAMES = {"h": "hour", "d": "day", "bd": "business day", "w": "week"}


class PolicyError(UsageError):
    """A policy file that cannot be used. Exit 2, like any bad input."""


# --------------------------------------------------------------------------- spans


@dataclass(frozen=True)
class Span:
    """A length of time in hours, days, weeks or business days (of a holiday calendar)."""

    amount: int
    unit: str  # "h", "d", "w", "bd"

    @classmethod
    def parse(cls, text: str) -> Span:
        match = _SPAN.fullmatch(text)
        if match is None:
            raise ValueError(
                f"'{text}' is not a span: use hours (12h), days (30d), business days (10bd) "
                "or weeks (8w)"
            )
        return cls(int(match[1]), match[2].lower())

    def after(
        self, start: datetime, calendar: Calendar | None = None, zone: tzinfo | None = None
    ) -> datetime:
        """`start` plus this span. Hours are exact; days, weeks and business days (on
        `calendar`, default Monday to Friday) move on the calendar and keep the local time
        of day (in `zone`, default :func:`local_zone`) across a daylight-saving change, as
        `WHEN` does. A caller adding many spans passes the zone it looked up once."""
        if self.unit == "h":
            return start + timedelta(hours=self.amount)
        zone = zone or local_zone()
        local = start.astimezone(zone)
        if self.unit == "bd":
            day = (calendar or WEEKDAYS).add(local.date(), self.amount)
        else:
            day = local.date() + timedelta(days=self.amount * (7 if self.unit == "w" else 1))
        wall = datetime.combine(day, local.time().replace(tzinfo=None))
        return wall.replace(tzinfo=zone).astimezone(UTC)

    def __str__(self) -> str:
        name = _UNIT_NAMES[self.unit]
        return f"{self.amount} {name}" + ("" if self.amount == 1 else "s")


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Threshold:
    id: str
    why: str
    levels: tuple[str, ...] = ()  # empty: any level
    since: str | None = None
    after: Span | None = None
    broken_promises: int | None = None
    suggest: str | None = None  # a level, or "next"
    action: str | None = None
    rule: str | None = None

    def target(self, level: str) -> str | None:
        """The rung this threshold suggests for a case at `level` (None: no rung to climb)."""
        if self.suggest is None:
            return None
        if self.suggest == "next":
            index = LEVELS.index(level) + 1
            return LEVELS[index] if index < len(LEVELS) else None
        return self.suggest if LEVELS.index(self.suggest) > LEVELS.index(level) else None

    def applies(self, level: str) -> bool:
        if self.levels and level not in self.levels:
            return False
        # A threshold that suggests a rung the case is already on (or past) has done its job.
        return self.suggest is None or self.target(level) is not None

    def crossed_at(self, facts: CaseFacts) -> datetime | None:
        """The instant the case crosses this threshold (past or future), or None if never."""
        moments: list[datetime] = []
        if self.since is not None and self.after is not None:
            anchor = facts.anchor(self.since)
            if anchor is None:
                return None
            moments.append(self.after.after(anchor, facts.calendar, facts.zone))
        if self.broken_promises is not None:
            if len(facts.broken_at) < self.broken_promises:
                return None
            moments.append(facts.broken_at[self.broken_promises - 1])
        return max(moments) if moments else None


@dataclass(frozen=True)
class Policy:
    name: str
    title: str
    note: str
    promise_grace: Span
    thresholds: tuple[Threshold, ...]


@dataclass(frozen=True)
class CountryRules:
    """A country's choice of policies: by category, else its default (None: the general)."""

    categories: Mapping[str, str]
    default: str | None = None


@dataclass(frozen=True)
class Policies:
    """Every policy by name, the category -> policy map, and the fallback policy's name;
    and each country's own choice ([country.CC])."""

    policies: Mapping[str, Policy]
    categories: Mapping[str, str]
    default: str
    countries: Mapping[str, CountryRules] = field(default_factory=dict)

    def span(self, policy: str, threshold: str) -> Span:
        """How long the named threshold of the named policy waits (a legal clock, say)."""
        found = self.policies.get(policy)
        for item in found.thresholds if found is not None else ():
            if item.id == threshold and item.after is not None:
                return item.after
        raise PolicyError(f"the policies have no threshold '{threshold}' in policy '{policy}'")

    def for_case(
        self, category: str, policy: str | None = None, country: str | None = None
    ) -> Policy:
        """The case's own policy if it names a known one; else, most specific first, its
        country's policy for its category, the policy for its category anywhere, its
        country's default, the default."""
        if policy and policy in self.policies:
            return self.policies[policy]
        rules = self.countries.get(country) if country else None
        if rules is not None and category in rules.categories:
            return self.policies[rules.categories[category]]
        if category in self.categories:
            return self.policies[self.categories[category]]
        if rules is not None and rules.default is not None:
            return self.policies[rules.default]
        return self.policies[self.default]


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What thresholds look at. ``broken_at``: when each promise counts as broken, sorted.

    A pending promise of the company counts as broken from its due time plus the policy's
    grace (projected, so a future crossing has a time too); one marked broken, from when
    it was marked, or that projected instant if earlier.
    """

    case_id: int
    level: str
    opened_at: datetime
    last_interaction_at: datetime | None = None
    escalated_at: datetime | None = None
    broken_at: tuple[datetime, ...] = ()
    calendar: Calendar = WEEKDAYS  # business days in thresholds count on this one
    notice_at: datetime | None = None  # the first billing-error notice sent
    zone: tzinfo | None = None  # spans keep the local time of day here (None: local_zone())

    def anchor(self, since: str) -> datetime | None:
        if since == "opened":
            return self.opened_at
        if since == "notice":
            return self.notice_at or self.opened_at
        if since == "last_interaction":
            # Escalating is an action too: it restarts the count, so a case that just went up a
            # rung is not told at once to go up another for the silence before it.
            moments = [self.opened_at, self.last_interaction_at, self.escalated_at]
            return max(m for m in moments if m is not None)
        if since == "escalated":
            return self.escalated_at
        return self.broken_at[0] if self.broken_at else None


@dataclass(frozen=True, slots=True)
class Crossing:
    threshold: Threshold
    at: datetime
    target: str | None  # the suggested rung, if any


def broken_instant(
    status: str,
    due_at: datetime,
    status_at: datetime | None,
    grace: Span,
    calendar: Calendar | None = None,
    zone: tzinfo | None = None,
) -> datetime | None:
    """When a company promise counts as broken (see CaseFacts), or None if it never will."""
    projected = grace.after(due_at, calendar, zone)
    if status == "pending":
        return projected
    if status == "broken":
        return min(status_at, projected) if status_at is not None else projected
    return None


def crossings(facts: CaseFacts, policy: Policy) -> list[Crossing]:
    """The thresholds of `policy` this case crosses, with when, soonest first."""
    found = []
    for threshold in policy.thresholds:
        if not threshold.applies(facts.level):
            continue
        at = threshold.crossed_at(facts)
        if at is not None:
            found.append(Crossing(threshold, at, threshold.target(facts.level)))
    found.sort(key=lambda c: (c.at, c.threshold.id))
    return found


# --------------------------------------------------------------------------- loading


def builtin_text() -> str:
    return resources.files("tracker").joinpath("policies.toml").read_text(encoding="utf-8")


def user_policy_path() -> Path:
    return config_dir() / USER_POLICY_FILE


def load_policies(path: str | Path | None = None) -> Policies:
    """The built-in policies, with the user's file laid over them.

    `path` (from --policy) must exist; without it, the config folder's policy.toml is used
    when there is one.
    """
    builtin_raw, built = builtin()
    if path is not None:
        chosen = expand_user(path)
        if not chosen.is_file():
            raise PolicyError(f"policy file {chosen} does not exist")
    else:
        chosen = user_policy_path()
        if not chosen.is_file():
            return built
    try:
        text = chosen.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {chosen}: {exc}") from None
    where = f"policy file {chosen}"
    return _build(_overlay(builtin_raw, _parse(text, where)), where)


def builtin() -> tuple[dict[str, Any], Policies]:
    """The built-in policies, parsed and built once per process (they are the package's
    own file; the command server parses them before it forks its workers). Neither is
    changed by anyone: _overlay copies what it takes, Policies is frozen."""
    if not _BUILTIN:
        raw = _parse(builtin_text(), "built-in policies")
        _BUILTIN.append((raw, _build(raw, "built-in policies")))
    return _BUILTIN[0]


_BUILTIN: list[tuple[dict[str, Any], Policies]] = []


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where} is not valid TOML: {exc}") from None
    _refuse_card_data(raw, where, "")
    _check_layer(raw, where)
    return raw


def _refuse_card_data(value: Any, where: str, path: str) -> None:
    """A policy file is configuration: card data in it (an id, a text, a key) is refused,
    so that none reaches `tracker due`, a reminder's key or the history."""
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_card_data(key, where, path)
            _refuse_card_data(item, where, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value, 1):
            _refuse_card_data(item, where, f"{path}[{index}]")
    elif isinstance(value, str) and redact(value).changed:
        found = redact(value)
        what = "a card number" if found.cards else "a security code"
        raise PolicyError(f"{where}: {path or 'a key'} holds {what} ('{found.text}'); remove it")


_TOP_KEYS = {"default_policy", "categories", "country", "policy"}
_COUNTRY_KEYS = {"default_policy", "categories"}
_POLICY_KEYS = {"title", "note", "extends", "promise_grace", "threshold"}
_THRESHOLD_KEYS = {
    "id",
    "enabled",
    "levels",
    "since",
    "after",
    "broken_promises",
    "suggest",
    "action",
    "why",
    "rule",
}


def _unknown(keys: Iterable[str], allowed: set[str], where: str) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise PolicyError(
            f"{where}: unknown key '{extra[0]}' (known: {', '.join(sorted(allowed))})"
        )


def _want(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise PolicyError(f"{where}: {what}")


def _check_layer(raw: dict[str, Any], where: str) -> None:
    """Shapes and types, so that an error names the file it is in."""
    _unknown(raw, _TOP_KEYS, where)
    if "default_policy" in raw:
        _want(raw["default_policy"], str, where, "default_policy must be a policy name")
    categories = raw.get("categories", {})
    _want(categories, dict, where, "[categories] must be a table of category = policy")
    for category, name in categories.items():
        if category not in CATEGORIES:
            raise PolicyError(
                f"{where}: [categories]: unknown category '{category}' "
                f"(known: {', '.join(CATEGORIES)})"
            )
        _want(name, str, where, f"[categories]: {category} must name a policy")
    countries = raw.get("country", {})
    _want(countries, dict, where, "[country.CC] tables expected")
    for code, body in countries.items():
        here = f"{where}: [country.{code}]"
        if code not in COUNTRIES:
            raise PolicyError(f"{here}: unknown country '{code}' (an ISO 3166 code: US, GB...)")
        _want(body, dict, here, "must be a table")
        _unknown(body, _COUNTRY_KEYS, here)
        if "default_policy" in body:
            _want(body["default_policy"], str, here, "default_policy must be a policy name")
        chosen = body.get("categories", {})
        _want(chosen, dict, here, "categories must be a table of category = policy")
        for category, name in chosen.items():
            if category not in CATEGORIES:
                raise PolicyError(f"{here}: unknown category '{category}'")
            _want(name, str, here, f"{category} must name a policy")
    policies = raw.get("policy", {})
    _want(policies, dict, where, "[policy.NAME] tables expected")
    for name, body in policies.items():
        here = f"{where}: policy '{name}'"
        if not _ID.fullmatch(name):
            raise PolicyError(f"{here}: a name is lower-case letters, digits, '-', '_' and '.'")
        _want(body, dict, here, "must be a table")
        _unknown(body, _POLICY_KEYS, here)
        for key in ("title", "note", "extends"):
            if key in body:
                _want(body[key], str, here, f"{key} must be text")
        if "promise_grace" in body:
            _want(body["promise_grace"], str, here, "promise_grace must be a span such as 1d")
            _span(body["promise_grace"], here, "promise_grace")
        thresholds = body.get("threshold", [])
        _want(thresholds, list, here, "thresholds are [[policy.NAME.threshold]] tables")
        seen: set[str] = set()
        for index, item in enumerate(thresholds, 1):
            _want(item, dict, here, f"threshold {index} must be a table")
            ident = item.get("id")
            _want(ident, str, here, f"threshold {index} needs an id (text)")
            there = f"{here} threshold '{ident}'"
            if not _ID.fullmatch(ident):
                raise PolicyError(f"{there}: an id is lower-case letters, digits, '-', '_' and '.'")
            if ident in seen:
                raise PolicyError(f"{there}: the id is used twice")
            seen.add(ident)
            _unknown(item, _THRESHOLD_KEYS, there)
            _check_threshold_types(item, there)


def _check_threshold_types(item: dict[str, Any], there: str) -> None:
    if "enabled" in item:
        _want(item["enabled"], bool, there, "enabled must be true or false")
    for key in ("since", "after", "suggest", "action", "why", "rule"):
        if key in item:
            _want(item[key], str, there, f"{key} must be text")
    if "levels" in item:
        levels = item["levels"]
        _want(levels, list, there, 'levels must be a list such as ["frontline"]')
        for level in levels:
            if level not in LEVELS:
                raise PolicyError(f"{there}: unknown level '{level}' (known: {', '.join(LEVELS)})")
    if "since" in item and item["since"] not in SINCE:
        raise PolicyError(f"{there}: unknown since '{item['since']}' (known: {', '.join(SINCE)})")
    if "after" in item:
        _span(item["after"], there, "after")
    if "broken_promises" in item:
        count = item["broken_promises"]
        _want(count, int, there, "broken_promises must be a whole number")
        if count < 1:
            raise PolicyError(f"{there}: broken_promises must be at least 1")
    if "suggest" in item and item["suggest"] not in (*LEVELS[1:], "next"):
        raise PolicyError(
            f"{there}: suggest must be one of {', '.join(LEVELS[1:])} or next, "
            f"not '{item['suggest']}'"
        )


def _span(text: str, where: str, key: str) -> Span:
    try:
        return Span.parse(text)
    except ValueError as exc:
        raise PolicyError(f"{where}: {key}: {exc}") from None


def _overlay(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`: keys replaced one by one, thresholds matched by id."""
    merged: dict[str, Any] = {
        "default_policy": over.get("default_policy", base.get("default_policy")),
        "categories": {**base.get("categories", {}), **over.get("categories", {})},
        "policy": {name: dict(body) for name, body in base.get("policy", {}).items()},
        "country": {code: dict(body) for code, body in base.get("country", {}).items()},
    }
    for code, body in over.get("country", {}).items():
        target = merged["country"].setdefault(code, {})
        target["categories"] = {**target.get("categories", {}), **body.get("categories", {})}
        if "default_policy" in body:
            target["default_policy"] = body["default_policy"]
    for name, body in over.get("policy", {}).items():
        target = merged["policy"].setdefault(name, {})
        thresholds = [dict(t) for t in target.get("threshold", [])]
        by_id = {t["id"]: t for t in thresholds}
        for item in body.get("threshold", []):
            if item["id"] in by_id:
                by_id[item["id"]].update(item)
            else:
                thresholds.append(dict(item))
                by_id[item["id"]] = thresholds[-1]
        target.update({k: v for k, v in body.items() if k != "threshold"})
        target["threshold"] = thresholds
    return merged


def _build(raw: dict[str, Any], where: str) -> Policies:
    bodies: dict[str, dict[str, Any]] = raw.get("policy", {})
    resolved: dict[str, Policy] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> Policy:
        if name in resolved:
            return resolved[name]
        here = f"{where}: policy '{name}'"
        if name in chain:
            raise PolicyError(f"{here}: extends itself ({' -> '.join((*chain, name))})")
        body = bodies[name]
        parent: Policy | None = None
        if "extends" in body:
            if body["extends"] not in bodies:
                raise PolicyError(f"{here}: extends unknown policy '{body['extends']}'")
            parent = resolve(body["extends"], (*chain, name))
        own: dict[str, Threshold | None] = {}
        for item in body.get("threshold", []):
            own[item["id"]] = _threshold(item, f"{here} threshold '{item['id']}'")
        thresholds: list[Threshold] = []
        for inherited in parent.thresholds if parent else ():
            if inherited.id in own:
                replacement = own.pop(inherited.id)
                if replacement is not None:
                    thresholds.append(replacement)
            else:
                thresholds.append(inherited)
        thresholds += [t for t in own.values() if t is not None]
        if "promise_grace" in body:
            grace = _span(body["promise_grace"], here, "promise_grace")
        else:
            grace = parent.promise_grace if parent else Span(1, "d")
        note = body.get("note") or (parent.note if parent else DISCLAIMER)
        if "legal advice" not in note.lower():
            note = f"{note.rstrip()} {DISCLAIMER}"
        policy = Policy(
            name=name,
            title=body.get("title") or (parent.title if parent else name),
            note=note,
            promise_grace=grace,
            thresholds=tuple(thresholds),
        )
        resolved[name] = policy
        return policy

    for name in bodies:
        resolve(name, ())
    default = raw.get("default_policy") or "general"
    if default not in resolved:
        raise PolicyError(f"{where}: default_policy names unknown policy '{default}'")
    categories: dict[str, str] = raw.get("categories", {})
    for category, name in categories.items():
        if name not in resolved:
            raise PolicyError(f"{where}: [categories]: {category} names unknown policy '{name}'")
    countries: dict[str, CountryRules] = {}
    for code, body in raw.get("country", {}).items():
        chosen = dict(body.get("categories", {}))
        for name in (*chosen.values(), body.get("default_policy")):
            if name is not None and name not in resolved:
                raise PolicyError(f"{where}: [country.{code}] names unknown policy '{name}'")
        countries[code] = CountryRules(chosen, body.get("default_policy"))
    return Policies(resolved, dict(categories), default, countries)


def _threshold(item: dict[str, Any], there: str) -> Threshold | None:
    """A validated threshold, or None for one switched off with enabled = false."""
    if not item.get("enabled", True):
        return None
    if "why" not in item:
        raise PolicyError(f"{there}: needs why (the reason, in a few words)")
    if ("since" in item) != ("after" in item):
        raise PolicyError(f'{there}: since and after go together (since = "opened", after = "30d")')
    if "since" not in item and "broken_promises" not in item:
        raise PolicyError(f"{there}: needs since and after, or broken_promises")
    if "suggest" not in item and "action" not in item:
        raise PolicyError(f"{there}: needs suggest (a level, or next) or action (what to do)")
    return Threshold(
        id=item["id"],
        why=item["why"],
        levels=tuple(item.get("levels", ())),
        since=item.get("since"),
        after=Span.parse(item["after"]) if "after" in item else None,
        broken_promises=item.get("broken_promises"),
        suggest=item.get("suggest"),
        action=item.get("action"),
        rule=item.get("rule"),
    )
