"""The two views offer the same methods, so any command can print either."""

from __future__ import annotations

import inspect

import pytest

from tracker import views
from tracker.views import case, daemon, due, org


def _methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize("module", [case, daemon, due, org], ids=lambda m: m.__name__)
def test_each_family_has_the_same_methods_in_text_and_json(module: object) -> None:
    text, json = _methods(module.Text), _methods(module.Json)  # type: ignore[attr-defined]
    assert text == json
    assert text, "a view family with no methods"


def test_the_one_view_has_every_familys_methods() -> None:
    assert _methods(views.TextView) == _methods(views.JsonView)
    for module in (case, daemon, due, org):
        assert set(_methods(module.Text)) <= set(_methods(views.TextView))


def test_choose_picks_once_from_the_flag() -> None:
    assert isinstance(views.choose(True), views.JsonView)
    assert isinstance(views.choose(False), views.TextView)
