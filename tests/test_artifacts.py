"""The one generated-artifact writer and the repository root, shared by the rules, dashboards and k8s
generators."""

from __future__ import annotations

from pathlib import Path

from smmc import repo
from smmc.artifacts import Artifacts, generated_by, header

COMMAND = "smmc thing generate"
HEAD = header(COMMAND, "things.yml", "smmc thing check")


def made(base: Path, **files: str) -> Artifacts:
    return Artifacts(
        base, {f"out/{k}.yml": HEAD + v for k, v in files.items()}, COMMAND, ("out/*.yml",), True
    )


def test_write_changes_only_what_differs_and_check_then_passes(tmp_path):
    arts = made(tmp_path, a="a: 1\n", b="b: 2\n")
    assert arts.stale() == ["out/a.yml: missing", "out/b.yml: missing"]
    assert arts.write() == ["wrote out/a.yml", "wrote out/b.yml"]
    assert arts.stale() == [] and arts.write() == []
    (tmp_path / "out/b.yml").write_text(HEAD + "b: 3\n")
    assert arts.stale() == ["out/b.yml: stale"]
    assert arts.write() == ["wrote out/b.yml"]
    assert (tmp_path / "out/b.yml").read_text() == HEAD + "b: 2\n"


def test_a_left_over_it_made_is_reported_and_removed_a_hand_written_file_is_not(tmp_path):
    made(tmp_path, a="a: 1\n", gone="x: 1\n").write()
    (tmp_path / "out/mine.yml").write_text("# written by a person\n")
    arts = made(tmp_path, a="a: 1\n")
    assert arts.stale() == ["out/gone.yml: not generated (remove it)"]
    assert arts.write() == ["removed out/gone.yml"]
    assert (tmp_path / "out/mine.yml").exists() and not (tmp_path / "out/gone.yml").exists()
    # without `marked`, every file the patterns match is the generator's
    unmarked = Artifacts(tmp_path, {"out/a.yml": HEAD + "a: 1\n"}, COMMAND, ("out/*.yml",))
    assert unmarked.stale() == ["out/mine.yml: not generated (remove it)"]


def test_the_header_names_the_command_the_source_and_the_check():
    assert HEAD.splitlines() == [
        f"# {generated_by(COMMAND)} from things.yml. Do not edit: change the source",
        "# and regenerate; `smmc thing check` fails when this file is stale.",
    ]


def test_the_root_is_this_checkout_else_the_nearest_one_above_the_current_directory(tmp_path):
    here = Path(__file__).resolve().parents[1]
    assert repo.REPO_ROOT == here == repo.find_root(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "thresholds.yml").write_text("{}\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    # as with a plain `pip install .`: the package's own folder is no checkout
    installed = tmp_path / "venv" / "site-packages" / "smmc"
    assert repo.find_root(tmp_path / "a" / "b", package_dir=installed) == tmp_path.resolve()
    assert repo.find_root(Path("/"), package_dir=installed) == Path("/")
