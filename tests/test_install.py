"""A non-editable install carries its migrations and can create a store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_install_creates_a_store_and_opens_a_case(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("tracker-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True
    )
    env = {**os.environ, "TRACKER_HOME": str(tmp_path / "home")}
    env.pop("TRACKER_DB", None)
    tracker = str(venv / "bin" / "tracker")
    # Run from an empty folder so nothing of the checkout can be found.
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True}
    opened = subprocess.run(
        [tracker, "case", "open", "Lost card", "--category", "lost_stolen"], **run
    )  # type: ignore[call-overload]
    assert opened.returncode == 0, opened.stderr
    assert "Opened case 1: Lost card" in opened.stdout
    listed = subprocess.run([tracker, "case", "list"], **run)  # type: ignore[call-overload]
    assert "Lost card" in listed.stdout
    shipped = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import tracker.migrate as m; print(m.script_location())",
        ],
        **run,  # type: ignore[call-overload]
    )
    assert shipped.stdout.strip().endswith("tracker/_alembic")
    assert (tmp_path / "home" / "tracker.db").stat().st_mode & 0o777 == 0o600
