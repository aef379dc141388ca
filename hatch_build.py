"""The wheel's man pages: written at build time from the Click commands (tracker.cli.manpages)
into the wheel's shared data, so that `pip install` puts them in <prefix>/share/man/man1.

The pages are generated in a child process of the build environment's Python, with the
source tree on its path: the commands import Click and SQLAlchemy (no database), which
the hook's `dependencies` in pyproject.toml bring into the build environment. Editable
installs get no pages (they would go stale as the code changes): README says how to read
them there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MAN_DIR = "share/man/man1"


class ManPagesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        self._out = Path(tempfile.mkdtemp(prefix="tracker-man-"))
        # The build environment (pip's, with the hook's dependencies) may itself be on
        # PYTHONPATH: keep it, with the source tree first.
        path = [self.root, *filter(None, [os.environ.get("PYTHONPATH")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        subprocess.run(
            [sys.executable, "-m", "tracker.cli.manpages", str(self._out)],
            cwd=self.root,
            env=env,
            check=True,
        )
        pages = sorted(self._out.glob("*.1"))
        if not pages:
            raise RuntimeError("tracker.cli.manpages wrote no man pages")
        for path in pages:
            build_data["shared_data"][str(path)] = f"{MAN_DIR}/{path.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
