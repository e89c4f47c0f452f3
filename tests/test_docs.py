"""README, CI and CLI stay in step with the code."""

import re

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _fenced_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README, re.S)


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = _fenced_commands()
    assert len(commands) == 2, commands
    run, test = commands
    assert "honcho start worker watcher" in run and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test


def test_every_setting_is_documented():
    source = (ROOT / "worker" / "config.py").read_text()
    names = set(re.findall(r'_(?:bool|int|choice|url|name|float|seconds|path)\(\s*env,\s*"([A-Z0-9_]+)"', source))
    names |= set(re.findall(r'PREFIX \+ "([A-Z0-9_]+)"', source))
    assert names, "no settings found"
    missing = sorted(n for n in names if f"`MEDIFLUX_{n}`" not in README and f"MEDIFLUX_{n}" not in README)
    assert not missing, missing


def test_procfile_lines_are_documented():
    for line in (ROOT / "Procfile").read_text().splitlines():
        name = line.split(":", 1)[0]
        assert f"| `{name}` |" in README, name
