"""Every generated file is marked as such: a header where its format has comments, `linguist-generated`
in .gitattributes, and a README in its folder that names its source and its command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from smmc import dashboards
from smmc.artifacts import generated_by
from smmc.k8s import cli as k8s_cli
from smmc.k8s import manifests
from smmc.k8s import render as k8s_render
from smmc.repo import REPO_ROOT
from smmc.rules import render as rules_render
from smmc.rules.model import load

PARTLY_GENERATED = {rules_render.METRICS_DOC}  # one generated section in a hand-written page


def generated() -> dict[str, tuple[str, str]]:
    """Repository path -> (text, the command that writes it), for all three generators."""
    out = {
        rel: (text, rules_render.GENERATE)
        for rel, text in rules_render.generated(load(REPO_ROOT), REPO_ROOT).items()
        if rel not in PARTLY_GENERATED
    }
    dashboards_dir = dashboards.DASHBOARDS_DIR.relative_to(REPO_ROOT).as_posix()
    out |= {
        f"{dashboards_dir}/{name}": (text, dashboards.GENERATE) for name, text in dashboards.render().items()
    }
    files = k8s_cli.generate_files(REPO_ROOT, manifests.Settings())
    out |= {f"{k8s_render.OUT_DIR}/{rel}": (text, k8s_render.GENERATE) for rel, text in files.items()}
    return out


def linguist_generated(paths: list[str]) -> dict[str, str]:
    result = subprocess.run(
        ["git", "check-attr", "linguist-generated", "--stdin"],
        cwd=REPO_ROOT,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=True,
    )
    return {line.split(": ")[0]: line.rsplit(": ", 1)[1] for line in result.stdout.splitlines()}


@pytest.fixture(scope="module")
def files() -> dict[str, tuple[str, str]]:
    return generated()


def test_every_generated_file_and_no_source_is_marked_for_the_forge(files):
    marks = linguist_generated(sorted(files))
    assert {path for path, mark in marks.items() if mark != "true"} == set()
    sources = [
        "rules/thresholds.yml",
        "rules/tests/cases.yml",
        *PARTLY_GENERATED,
        "smmc/dashboards/meters.py",
    ]
    assert {path for path, mark in linguist_generated(sources).items() if mark == "true"} == set()


def test_a_generated_file_says_so_where_its_format_has_comments(files):
    for path, (text, command) in files.items():
        if path.endswith(".json"):
            continue  # JSON has no comments: .gitattributes and the folder's README mark it
        assert generated_by(command) in "\n".join(text.splitlines()[:3]), path


def test_each_generated_folder_has_a_readme_naming_its_command(files):
    folders = {Path(path).parent for path, _ in files.items() if not path.startswith("docs/")}
    for folder in {f for f in folders if not f.is_relative_to(k8s_render.OUT_DIR)} | {
        Path(k8s_render.OUT_DIR)
    }:
        readme = REPO_ROOT / folder / "README.md"
        assert readme.exists(), f"{folder}/ has no README.md"
        commands = {command for path, (_, command) in files.items() if Path(path).is_relative_to(folder)}
        for command in commands:
            assert f"`{command}`" in readme.read_text(encoding="utf-8"), f"{readme} does not name {command}"
