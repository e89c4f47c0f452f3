"""README, CI and CLI stay in step with the code."""

import re
from collections.abc import Iterator, Mapping
from typing import Any

from tests.conftest import ROOT
from worker.config import load_settings

README = (ROOT / "README.md").read_text()


def _fenced_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README, re.S)


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = _fenced_commands()
    assert len(commands) == 2, commands
    run, test = commands
    assert "honcho start worker watcher" in run and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert test in ci
    checks = [c for c in ci[ci.index(test) + 1 :] if c.startswith(".venv/bin/")]
    readme = (ROOT / "README.md").read_text()
    assert checks and all(f"`{c}`" in readme for c in checks), checks  # the README names each static check


class _RecordingEnv(Mapping[str, str]):
    """An environment that records every key the settings code looks up (get, [], in)."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.looked_up: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.looked_up.add(key)
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.looked_up.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.looked_up.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _settings_read(tmp_path) -> set[str]:
    """Every ``MEDIFLUX_*`` name load_settings looks up, over variants that make conditional reads happen."""
    retention_file = tmp_path / "retention.toml"
    retention_file.write_text("[retention]\nsessions = 200\n")
    variants = [
        {},
        {"MEDIFLUX_DASHBOARD_ACTIONS": "1", "MEDIFLUX_DASHBOARD_TOKEN": "t" * 16},
        {
            "MEDIFLUX_HOME": str(tmp_path / "home"),
            "MEDIFLUX_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
            "MEDIFLUX_QUEUE_URL": "redis://127.0.0.1:6379/15",
            "MEDIFLUX_RETENTION_FILE": str(retention_file),
            "MEDIFLUX_RETENTION_DAYS": "documents=800",
            "MEDIFLUX_BDPM_URL": "https://bdpm.example.org",
            "MEDIFLUX_ANNUAIRE_API_KEY": "key",
            "MEDIFLUX_METRICS_PORT": "9100",
            "MEDIFLUX_WATCH_POLLING": "1",
            "MEDIFLUX_KEEP_PROCESSED": "1",
        },
    ]
    names: set[str] = set()
    for values in variants:
        env = _RecordingEnv(values)
        load_settings(env)
        names |= {k for k in env.looked_up if k.startswith("MEDIFLUX_")}
    return names


def _configuration_table() -> set[str]:
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `MEDIFLUX_")]
    return {name for row in rows for name in re.findall(r"`(MEDIFLUX_[A-Z0-9_]+)`", row.split(" | ", 1)[0])}


def test_every_setting_is_documented(tmp_path):
    read = _settings_read(tmp_path)
    assert "MEDIFLUX_HOME" in read and "MEDIFLUX_DASHBOARD_TOKEN" in read, read
    missing = sorted(read - _configuration_table())
    assert not missing, f"settings read by worker.config but not in README's configuration table: {missing}"


def test_readme_names_no_setting_the_code_never_reads(tmp_path):
    read = _settings_read(tmp_path)
    unknown = sorted(set(re.findall(r"MEDIFLUX_[A-Z0-9_]*[A-Z0-9]", README)) - read)
    assert not unknown, f"README names variables worker.config never reads: {unknown}"


def test_procfile_lines_are_documented():
    for line in (ROOT / "Procfile").read_text().splitlines():
        name = line.split(":", 1)[0]
        assert f"| `{name}` |" in README, name


def _cli_snippets() -> list[str]:
    section = README.split("\n## CLI\n", 1)[1].split("\n## ", 1)[0]
    return [s.replace("\\|", "|") for s in re.findall(r"`(mediflux [^`]+)`", section)]


def _resolve(snippet: str) -> list[tuple[str, Any, str]]:
    """(path, click command, text of its alternative) for each alternative of a README snippet."""
    import click

    from worker.cli import main

    first, *others = snippet.split(" | ")
    out = []
    cmd: Any = main
    group: Any = main
    path = ["mediflux"]
    words = first.split()[1:]
    while words and isinstance(cmd, click.Group) and words[0] in cmd.commands:
        group = cmd
        cmd = cmd.commands[words.pop(0)]
        path.append(cmd.name)
        if isinstance(cmd, click.Group):
            group = cmd
    out.append((" ".join(path), cmd, " ".join(words)))
    base = path[: len(path) - (0 if cmd is group else 1)]
    for alt in others:
        name, _, rest = alt.strip().partition(" ")
        assert name in group.commands, f"README names `{name}` under `{' '.join(base)}`: no such command"
        out.append((" ".join([*base, name]), group.commands[name], rest))
    return out


def test_readme_cli_table_matches_the_commands():
    """Every command and option in README's CLI table exists with that spelling, and every command is there."""
    import click

    from worker.cli import main

    seen: set[str] = set()
    for snippet in _cli_snippets():
        for path, cmd, text in _resolve(snippet):
            seen.add(path)
            params = cmd.get_params(click.Context(cmd))
            options = {o for p in params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts}
            arguments = {
                (p.metavar or p.name.upper()).removesuffix("...") for p in params if isinstance(p, click.Argument)
            }
            tokens = re.sub(r"[\[\]]", " ", text).split()
            for i, token in enumerate(tokens):
                if token.startswith("--"):
                    assert token in options, f"`{path}` has no option {token}"
                elif re.fullmatch(r"[A-Z][A-Z_]*(\.\.\.)?", token) and not (i and tokens[i - 1].startswith("--")):
                    assert token.removesuffix("...") in arguments, f"`{path}`: README's {token}, code's {arguments}"

    def leaves(cmd: Any, path: str) -> Iterator[str]:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from leaves(sub, f"{path} {name}")
        else:
            yield path

    missing = sorted(set(leaves(main, "mediflux")) - seen)
    assert not missing, f"commands missing from README's CLI table: {missing}"


def test_every_periodic_job_is_in_the_operations_jobs_table():
    from worker.schedule import PERIODIC_JOBS

    text = (ROOT / "docs" / "operations.md").read_text()
    rows = {line.split("|")[1].strip().strip("`") for line in text.splitlines() if line.startswith("| `")}
    assert set(PERIODIC_JOBS) <= rows, sorted(set(PERIODIC_JOBS) - rows)
