"""What commands print: one view per run, chosen once from ``--json``.

Each module here holds one command family's output as two classes with the same methods:
``Text`` (aligned tables and reports for a person; tab-separated lines in a pipe) and
``Json`` (the ``--json`` shapes, JSON only on stdout). A command asks :func:`choose` for its
view and calls one method; it never tests ``--json`` itself. tests/test_views.py checks that
the two views offer the same methods.
"""

from __future__ import annotations

from tracker.views import case, casefile, config, daemon, due, org, search


class TextView(case.Text, casefile.Text, config.Text, daemon.Text, due.Text, org.Text, search.Text):
    """Output for people."""

    is_json = False


class JsonView(case.Json, casefile.Json, config.Json, daemon.Json, due.Json, org.Json, search.Json):
    """Output for scripts: JSON only on stdout."""

    is_json = True


View = TextView | JsonView


def choose(as_json: bool) -> View:
    return JsonView() if as_json else TextView()
