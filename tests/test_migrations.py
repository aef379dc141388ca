"""The migrations: pytest-alembic's built-in checks, and the start-up path around them."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from conftest import Tracker
from pytest_alembic.config import Config
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace
from sqlalchemy import Engine

from tracker.db import Store, make_engine
from tracker.errors import StoreError
from tracker.migrate import head_revision, script_location, stored_revision
from tracker.models import SCHEMA_REVISION

__all__ = [
    "test_downgrade_leaves_no_trace",
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def alembic_config() -> Config:
    return Config(config_options={"file": str(ROOT / "alembic.ini")})


@pytest.fixture
def alembic_engine(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Engine:
    """The built-in migration tests run on both stores (batch mode is plain ALTER on PostgreSQL)."""
    if backend == "postgresql":
        return make_engine(request.getfixturevalue("postgres_db"))
    return make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")


def test_schema_revision_constant_is_the_migrations_head() -> None:
    # The start-up path compares the stored revision with this constant to skip Alembic.
    assert head_revision() == SCHEMA_REVISION


def test_scripts_are_found_in_the_checkout() -> None:
    assert (script_location() / "env.py").exists()


def test_first_use_creates_and_migrates_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'tracker.db'}"
    store = Store(url)
    with store.write():  # the first write creates it
        pass
    assert stored_revision(store.engine) == SCHEMA_REVISION
    store.dispose()


def test_a_postgresql_url_without_the_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=r"the postgres extra\): pip install 'psycopg\[binary\]'"):
        make_engine("postgresql+psycopg://someone@127.0.0.1/tracker")


def test_a_postgresql_url_without_the_driver_is_one_error_line(
    tracker,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    line = tracker.fails(1, "--db", "postgresql://someone@127.0.0.1/tracker", "case", "list")
    assert line == (
        "Error: a PostgreSQL store needs the psycopg driver (the postgres extra): "
        "pip install 'psycopg[binary]'"
    )


def test_a_store_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    Store(f"sqlite:///{path}", create=True).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_future'")
    with (
        pytest.raises(StoreError, match="newer than this version of tracker"),
        Store(f"sqlite:///{path}").read(),
    ):
        pass


def test_current_store_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "tracker.db"
    Store(f"sqlite:///{path}", create=True).dispose()
    code = (
        "import sys; from tracker.db import Store; "
        f"Store({f'sqlite:///{path}'!r}, create=True).dispose(); "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_db_upgrade_reports_the_revision(new_db_url: str) -> None:
    tracker = Tracker()
    assert f"from empty to {SCHEMA_REVISION}" in tracker.ok("db", "upgrade")
    assert "at the current schema" in tracker.ok("db", "upgrade")


def test_alembic_check_reports_no_drift(new_db_url: str) -> None:
    import subprocess
    import sys

    url = new_db_url
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "-x", f"db={url}"]
    subprocess.run([*alembic, "upgrade", "head"], check=True, capture_output=True, cwd=ROOT)
    result = subprocess.run([*alembic, "check"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr
