"""The layers of docs/architecture.md, as import-linter checks them (pyproject.toml's
[tool.importlinter]): each package imports only the layers below it, and no product code
imports test code."""

import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_every_import_runs_downward_and_none_reaches_test_code() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout
