"""The README's commands stay true: CI runs its test command verbatim; the app command is there."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line.startswith("python3 -m venv")]


def test_ci_runs_the_readme_test_command():
    readme = _commands((ROOT / "README.md").read_text())
    test_command = next(c for c in readme if "pytest" in c)
    assert test_command in _commands((ROOT / ".ci" / "run").read_text())
    assert any(c.endswith(".venv/bin/metagui") for c in readme), "README lost the app command"
