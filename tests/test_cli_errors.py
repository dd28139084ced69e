"""Every `smmc` command as a newcomer meets it: bad paths and bad environment values give one line on
stderr and a non-zero exit, never a traceback; every option comes from its environment variable, shown
in `--help`; the dispatcher's own usage."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from smmc.cli import COMMANDS
from smmc.stack.processes import smmc_command

REPO = Path(__file__).resolve().parents[1]
NOPE = "/proc/nope"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SMMC_", "OPENGATE_"))}
    full.update(env or {})
    return subprocess.run(
        [*smmc_command(), *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("cli")
    a_file = base / "a-file"
    a_file.write_text("x")
    token = base / "token"
    token.write_text("cli-test-token-0123456")  # the receiver refuses tokens under 16 characters
    (base / "dir").mkdir()
    return {"file": str(a_file), "dir": str(base / "dir"), "token": str(token), "base": str(base)}


# (id, argv with {file}/{dir}/{token} placeholders, env, what the one line must say)
CASES: list[tuple[str, list[str], dict[str, str], str]] = [
    ("simulate smmeplus out", ["simulate", "smmeplus", "--meters", "3", "--out", NOPE], {}, NOPE),
    (
        "simulate smmeplus out file",
        ["simulate", "smmeplus", "--meters", "3", "--out", "{file}"],
        {},
        "not a dir",
    ),
    (
        "simulate smmeplus date",
        ["simulate", "smmeplus", "--meters", "3", "--out", "{dir}", "--date", "x"],
        {},
        "--date",
    ),
    (
        "simulate smmeplus env",
        ["simulate", "smmeplus", "--out", "{dir}"],
        {"SMMC_SIM_SMMEPLUS_METERS": "abc"},
        "$SMMC_SIM_SMMEPLUS_METERS",
    ),
    (
        "simulate utility out file",
        ["simulate", "utility", "--out", "{file}", "--meters", "3"],
        {},
        "not a directory",
    ),
    ("simulate utility out", ["simulate", "utility", "--out", NOPE, "--meters", "3"], {}, NOPE),
    ("simulate utility missing", ["simulate", "utility", "--meters", "3"], {}, "missing --out"),
    (
        "simulate utility env",
        ["simulate", "utility", "--out", "{dir}", "--meters", "3"],
        {"SMMC_SIM_DAY_SECONDS": "abc"},
        "$SMMC_SIM_DAY_SECONDS",
    ),
    (
        "simulate utility scenario",
        ["simulate", "utility", "--out", "{dir}", "--meters", "3", "--scenario", "nope"],
        {},
        "nope",
    ),
    ("simulate cloudera out", ["simulate", "cloudera", "--out", NOPE + "/r.csv"], {}, NOPE),
    (
        "simulate cloudera schedule",
        ["simulate", "cloudera", "--out", "{dir}/r.csv", "--schedule", NOPE],
        {},
        NOPE,
    ),
    ("simulate opengate out dir", ["simulate", "opengate", "--out", "{dir}"], {}, "is a directory"),
    (
        "simulate opengate env",
        ["simulate", "opengate"],
        {"SMMC_SIM_OPENGATE_MODEMS": "many"},
        "$SMMC_SIM_OPENGATE_MODEMS",
    ),
    ("simulate unknown", ["simulate", "nope"], {}, "usage"),
    ("smmeplus inbox missing", ["exporter", "smmeplus", "--inbox", NOPE], {}, "--create-inbox"),
    ("smmeplus inbox file", ["exporter", "smmeplus", "--inbox", "{file}"], {}, "not a directory"),
    ("smmeplus inventory", ["exporter", "smmeplus", "--inbox", "{dir}", "--inventory", NOPE], {}, NOPE),
    (
        "smmeplus env int",
        ["exporter", "smmeplus", "--inbox", "{dir}"],
        {"SMMC_SMMEPLUS_PER_METER_SERIES_LIMIT": "abc"},
        "$SMMC_SMMEPLUS_PER_METER_SERIES_LIMIT",
    ),
    (
        "smmeplus env choice",
        ["exporter", "smmeplus", "--inbox", "{dir}"],
        {"SMMC_SMMEPLUS_INBOX_MODE": "copy"},
        "$SMMC_SMMEPLUS_INBOX_MODE",
    ),
    (
        "smmeplus env bool",
        ["exporter", "smmeplus", "--inbox", "{dir}"],
        {"SMMC_SMMEPLUS_ONCE": "maybe"},
        "$SMMC_SMMEPLUS_ONCE",
    ),
    ("smmeplus shard", ["exporter", "smmeplus", "--inbox", "{dir}", "--shard", "3/2"], {}, "--shard"),
    ("smmeplus listen", ["exporter", "smmeplus", "--inbox", "{dir}", "--listen", "here"], {}, "here"),
    ("smmeplus missing", ["exporter", "smmeplus"], {}, "$SMMC_SMMEPLUS_INBOX"),
    (
        "opengate url scheme",
        ["exporter", "opengate", "--url", "127.0.0.1:9830", "--organization", "o"],
        {},
        "http://",
    ),
    (
        "opengate url env scheme",
        ["exporter", "opengate"],
        {"SMMC_OPENGATE_URL": "127.0.0.1:9830", "SMMC_OPENGATE_ORGANIZATION": "o"},
        "$SMMC_OPENGATE_URL",
    ),
    ("opengate missing", ["exporter", "opengate"], {}, "$SMMC_OPENGATE_URL"),
    (
        "opengate key file",
        ["exporter", "opengate", "--url", "http://x", "--organization", "o", "--api-key-file", NOPE],
        {},
        "--api-key-file",
    ),
    (
        "opengate no key",
        ["exporter", "opengate", "--url", "http://x", "--organization", "o"],
        {},
        "OPENGATE_API_KEY",
    ),
    (
        "opengate datastreams",
        ["exporter", "opengate", "--url", "http://x", "--organization", "o", "--datastreams", NOPE],
        {"OPENGATE_API_KEY": "k"},
        NOPE,
    ),
    (
        "opengate env int",
        ["exporter", "opengate", "--url", "http://x", "--organization", "o"],
        {"SMMC_OPENGATE_PAGE_SIZE": "abc"},
        "$SMMC_OPENGATE_PAGE_SIZE",
    ),
    (
        "opengate interval",
        ["exporter", "opengate", "--url", "http://x", "--organization", "o", "--interval", "soon"],
        {"OPENGATE_API_KEY": "k"},
        "soon",
    ),
    (
        "opengate log level",
        ["exporter", "opengate"],
        {"SMMC_OPENGATE_LOG_LEVEL": "loud"},
        "$SMMC_OPENGATE_LOG_LEVEL",
    ),
    ("cloudera schedule", ["exporter", "cloudera", "--report", "{file}", "--schedule", NOPE], {}, NOPE),
    (
        "cloudera env duration",
        ["exporter", "cloudera", "--report", "{file}", "--schedule", "{file}"],
        {"SMMC_CLOUDERA_INTERVAL": "soon"},
        "$SMMC_CLOUDERA_INTERVAL",
    ),
    (
        "cloudera report scheme",
        ["exporter", "cloudera", "--report", "ftp://x/r.csv", "--schedule", "{file}"],
        {},
        "ftp://",
    ),
    (
        "cloudera token file",
        [
            "exporter",
            "cloudera",
            "--report",
            "{file}",
            "--schedule",
            "exporters/cloudera/jobs.example.yml",
            "--token-file",
            NOPE,
        ],
        {},
        NOPE,
    ),
    ("cloudera missing", ["exporter", "cloudera"], {}, "$SMMC_CLOUDERA_REPORT"),
    ("receiver config", ["receiver", "--config", NOPE], {}, NOPE),
    ("receiver token file", ["receiver", "--token-file", NOPE], {}, NOPE),
    ("receiver no token", ["receiver"], {}, "SMMC_RECEIVER_TOKEN"),
    ("receiver short token", ["receiver"], {"SMMC_RECEIVER_TOKEN": "short"}, "at least 16"),
    ("receiver db", ["receiver", "--token-file", "{token}", "--db", NOPE + "/r.sqlite"], {}, "database"),
    (
        "receiver env int",
        ["receiver"],
        {"SMMC_RECEIVER_WORKER_THREADS": "abc"},
        "$SMMC_RECEIVER_WORKER_THREADS",
    ),
    (
        "receiver url scheme",
        ["receiver", "--check-config"],
        {"SMMC_JIRA_URL": "jira.example:8080"},
        "$SMMC_JIRA_URL",
    ),
    ("receiver listen", ["receiver", "--listen", "nowhere"], {}, "nowhere"),
    ("fake jira token file", ["fake", "jira", "--token-file", NOPE], {}, NOPE),
    ("fake jira listen env", ["fake", "jira"], {"SMMC_FAKE_JIRA_LISTEN": "127.0.0.1:port"}, "port"),
    ("fake smmeplus listen", ["fake", "smmeplus", "--listen", "x:y"], {}, "x:y"),
    ("fake opengate fleet", ["fake", "opengate", "--fleet", NOPE], {}, NOPE),
    (
        "fake opengate env",
        ["fake", "opengate"],
        {"SMMC_FAKE_OPENGATE_MODEMS": "abc"},
        "$SMMC_FAKE_OPENGATE_MODEMS",
    ),
    ("fake unknown", ["fake", "nope"], {}, "usage"),
    ("decode word", ["decode", "meter", "--normal1", "zz"], {}, "zz"),
    ("decode env bool", ["decode", "csw", "08001E"], {"SMMC_DECODE_JSON": "maybe"}, "$SMMC_DECODE_JSON"),
    ("decode catalogs", ["decode", "--catalogs", NOPE, "csw", "08001E"], {}, NOPE),
    ("rules root", ["rules", "--root", NOPE, "generate"], {}, NOPE),
    ("rules root env", ["rules", "check"], {"SMMC_RULES_ROOT": NOPE}, NOPE),
    ("rules skip env", ["rules", "check"], {"SMMC_RULES_SKIP": "nothing"}, "nothing"),
    ("dashboards out", ["dashboards", "generate", "--out", NOPE], {}, NOPE),
    ("dashboards dir", ["dashboards", "check", "--dir", NOPE, "--no-lint"], {}, NOPE),
    ("k8s root", ["k8s", "--root", NOPE, "generate", "--out", "{dir}"], {}, NOPE),
    (
        "k8s env int",
        ["k8s", "generate"],
        {"SMMC_K8S_RECEIVER_REPLICAS": "abc"},
        "$SMMC_K8S_RECEIVER_REPLICAS",
    ),
    ("k8s validate", ["k8s", "validate", NOPE + ".yaml"], {}, NOPE),
    (
        "stack env int",
        ["stack", "up", "--dir", "{dir}"],
        {"SMMC_STACK_PORT_OFFSET": "abc"},
        "$SMMC_STACK_PORT_OFFSET",
    ),
    ("stack env file", ["stack", "up", "--dir", "{dir}", "--env-file", NOPE], {}, NOPE),
    ("stack port", ["stack", "up", "--dir", "{dir}", "--port", "prometheus"], {}, "SERVICE=PORT"),
    ("stack port service", ["stack", "up", "--dir", "{dir}", "--port", "prom=1"], {}, "prom"),
    ("stack scenario data", ["stack", "scenario", "grid-outage", "on", "--data", NOPE], {}, NOPE),
    ("stack scenario state", ["stack", "scenario", "grid-outage", "maybe"], {}, "maybe"),
    ("unknown command", ["nope"], {}, "unknown command"),
]


def _fill(args: list[str], paths: dict[str, str]) -> list[str]:
    return [a.format(**paths) for a in args]


@pytest.mark.parametrize(("argv", "env", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_path_or_value_is_one_line_and_a_failure(
    argv: list[str], env: dict[str, str], says: str, paths: dict[str, str]
) -> None:
    result = run(*_fill(argv, paths), env={k: v.format(**paths) for k, v in env.items()})
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if says == "usage":  # an unknown subcommand: the usage of its group (its first line says what)
        assert lines and "usage" in result.stderr, result.stderr
        return
    assert len(lines) == 1, result.stderr
    assert says in lines[0], lines[0]
    assert lines[0].startswith("smmc"), lines[0]


def _help_blocks(text: str) -> dict[str, str]:
    """Each option's help block of an argparse --help: `--flag` -> its text."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (-\w, )?(--[\w-]+)", line)
        if match:
            current = match.group(2)
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


def _commands_with_help() -> list[list[str]]:
    commands = [list(words) for words, _m, _h in COMMANDS]
    extra = {
        ("simulate",): [["simulate", p] for p in ("smmeplus", "opengate", "cloudera", "utility")],
        ("fake",): [["fake", f] for f in ("opengate", "jira", "smmeplus")],
        ("decode",): [["decode", w] for w in ("meter", "csw", "event", "wo-error")],
        ("rules",): [["rules", "generate"], ["rules", "check"]],
        ("dashboards",): [["dashboards", s] for s in ("generate", "check", "queries")],
        ("k8s",): [["k8s", s] for s in ("generate", "check", "validate")],
        ("stack",): [["stack", s] for s in ("up", "status", "scenario")],
    }
    out = []
    for words in commands:
        out += extra.get(tuple(words), [words])
    return out


@pytest.mark.parametrize("words", _commands_with_help(), ids=" ".join)
def test_help_shows_every_option_s_variable_even_when_a_variable_is_bad(words: list[str]) -> None:
    # a bad value in every variable the help names must not break --help itself
    first = run(*words, "--help")
    assert first.returncode == 0, first.stderr
    variables = set(re.findall(r"\$(SMMC_[A-Z0-9_]+)", first.stdout))
    result = run(*words, "--help", env=dict.fromkeys(variables, "abc"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    blocks = _help_blocks(result.stdout)
    assert blocks, result.stdout
    missing = [flag for flag, text in blocks.items() if flag != "--help" and "[$" not in text]
    assert not missing, f"options without their variable in `smmc {' '.join(words)} --help`: {missing}"


# (argv, env, proof in the output that the variable's value was used)
ENV_SATISFIES = [
    (
        ["exporter", "opengate"],
        {"SMMC_OPENGATE_URL": "http://x", "SMMC_OPENGATE_ORGANIZATION": "o"},
        "no API key",
    ),
    (["exporter", "smmeplus"], {"SMMC_SMMEPLUS_INBOX": NOPE + "/inbox"}, NOPE + "/inbox"),
    (["exporter", "cloudera"], {"SMMC_CLOUDERA_REPORT": "{file}", "SMMC_CLOUDERA_SCHEDULE": NOPE}, NOPE),
    (["receiver", "--check-config"], {"SMMC_RECEIVER_CONFIG": NOPE + "/actions.yml"}, NOPE + "/actions.yml"),
    (["simulate", "utility"], {"SMMC_SIM_METERS": "3", "SMMC_SIM_OUT": NOPE}, NOPE),
    (["fake", "opengate"], {"SMMC_FAKE_OPENGATE_FLEET": NOPE + "/fleet.json"}, NOPE + "/fleet.json"),
    (["fake", "jira"], {"SMMC_FAKE_JIRA_TOKEN_FILE": NOPE + "/jira-token"}, NOPE + "/jira-token"),
    (["fake", "smmeplus"], {"SMMC_FAKE_SMMEPLUS_LISTEN": "127.0.0.1:nope"}, "127.0.0.1:nope"),
    (["simulate", "smmeplus", "--meters", "3"], {"SMMC_SIM_SMMEPLUS_OUT": NOPE}, NOPE),
    (["simulate", "opengate"], {"SMMC_SIM_OPENGATE_OUT": "{dir}"}, "is a directory"),
    (["simulate", "cloudera"], {"SMMC_SIM_CLOUDERA_OUT": NOPE + "/r.csv"}, NOPE),
    (["decode", "csw", "08001E"], {"SMMC_CATALOG_OVERRIDES": NOPE}, NOPE),
    (["rules", "generate"], {"SMMC_RULES_ROOT": NOPE}, NOPE),
    (["dashboards", "check", "--no-lint"], {"SMMC_DASHBOARDS_DIR": NOPE}, NOPE),
    (["k8s", "generate"], {"SMMC_K8S_ROOT": NOPE}, NOPE),
    (["stack", "up", "--dir", "{dir}"], {"SMMC_STACK_ENV_FILE": NOPE}, NOPE),
]


@pytest.mark.parametrize(
    ("argv", "env", "proof"), ENV_SATISFIES, ids=[" ".join(a[:2]) for a, _e, _p in ENV_SATISFIES]
)
def test_a_variable_stands_for_its_option(
    argv: list[str], env: dict[str, str], proof: str, paths: dict[str, str]
) -> None:
    result = run(*_fill(argv, paths), env={k: v.format(**paths) for k, v in env.items()})
    assert proof in result.stderr + result.stdout, result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_bare_smmc_is_usage_and_exit_2() -> None:
    result = run()
    assert result.returncode == 2
    assert result.stderr.startswith("usage: smmc <command>")
    assert "exporter opengate" in result.stderr and "stack" in result.stderr


def test_smmc_exporter_help_lists_the_exporters() -> None:
    result = run("exporter", "--help")
    assert result.returncode == 0, result.stderr
    for name in ("smmeplus", "opengate", "cloudera"):
        assert f"exporter {name}" in result.stdout
    assert "decode" not in result.stdout
    bare = run("exporter")
    assert bare.returncode == 2 and "exporter needs a command" in bare.stderr
    unknown = run("exporter", "azure")
    assert unknown.returncode == 2 and "unknown command 'exporter azure'" in unknown.stderr


def test_list_scenarios_needs_nothing_else() -> None:
    result = run("simulate", "utility", "--list-scenarios")
    assert result.returncode == 0, result.stderr
    assert "grid-outage" in result.stdout


@pytest.mark.parametrize("fake", ["jira", "smmeplus", "opengate"])
def test_a_fake_says_where_it_listens(fake: str, tmp_path: Path) -> None:
    from smmc.stack.processes import free_port, wait_for

    port = free_port()
    log = tmp_path / "fake.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*smmc_command(), "fake", fake, "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OPENGATE_API_KEY": "k"},
        )
    try:
        wait_for(lambda: f"http://127.0.0.1:{port}" in log.read_text(), 60, f"fake {fake} to say where")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_pyproject_license_is_an_spdx_string() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    # the SPDX string form needs setuptools 77 (older ones read only the deprecated table)
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in project["build-system"]["requires"])


def test_k8s_check_prints_a_line_per_step_before_its_verdict() -> None:
    result = run("k8s", "check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [line for line in lines if line.startswith("== ")]
    assert [s.split()[1] for s in steps] == ["render", "compare", "validate"], lines
    assert lines.index(steps[-1]) < len(lines) - 1  # the verdict comes after the last step
    assert "schema problem(s)" in lines[-1]
