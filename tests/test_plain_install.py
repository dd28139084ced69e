"""`pip install .` with no extras is enough for the commands an SRE runs after a rule or dashboard change.

The package is built as a wheel and installed, without its dependencies, into a fresh virtual environment
that sees nothing of this one. The only other packages that environment can import are the runtime
dependencies declared in pyproject.toml and what those require in turn (linked from this environment, so
the test needs no network and no pip cache). The shipped commands then run from a copy of the checkout,
as an SRE runs them: a test-only import anywhere on their way fails them with ModuleNotFoundError.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from smmc.rules import checks

REPO = Path(__file__).resolve().parents[1]


def runtime_distributions() -> dict[str, metadata.Distribution]:
    """The runtime dependencies of pyproject.toml and theirs, transitively (markers and extras honoured)."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    found: dict[str, metadata.Distribution] = {}
    todo = [(Requirement(text), "") for text in declared]
    while todo:
        req, parent_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(req.name)
        dist = metadata.distribution(name)  # installed here by `pip install -e .[test]`
        first_visit = name not in found
        found[name] = dist
        for extra in ("", *req.extras) if first_visit else req.extras:
            todo += [(Requirement(text), extra) for text in dist.requires or []]
    return found


def link_distributions(dists: dict[str, metadata.Distribution], into: Path) -> None:
    """Expose exactly these distributions' top-level modules (and their metadata) in `into`."""
    into.mkdir(parents=True)
    for dist in dists.values():
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            source = Path(str(dist.locate_file(top)))
            if top in ("..", "__pycache__") or top.endswith(".pth") or not source.exists():
                continue
            if not (into / top).exists():
                (into / top).symlink_to(source)


def tracked_copy(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh environment's `smmc`, a copy of the checkout to run it in)."""
    tmp = tmp_path_factory.mktemp("plain-install")
    checkout = tracked_copy(tmp / "checkout")
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(wheels), str(checkout)],
        check=True,
        capture_output=True,
    )
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            *pip,
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            *map(str, wheels.glob("*.whl")),
        ],
        check=True,
        capture_output=True,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    runtime = tmp / "runtime-deps"
    link_distributions(runtime_distributions(), runtime)
    (Path(purelib) / "runtime-deps.pth").write_text(f"{runtime}\n", encoding="utf-8")
    return venv / "bin" / "smmc", checkout


def run(smmc: Path, checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{smmc.parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(smmc), *args], cwd=checkout, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_environment_is_really_plain(plain_install):
    smmc, checkout = plain_install
    python = smmc.parent / "python"
    probe = (
        "import importlib.util as u, smmc; "
        "print(smmc.__file__); "
        "print([m for m in ('pytest', 'ruff', 'jsonschema', 'docker', 'kubernetes_validate', 'tests') "
        "if u.find_spec(m)])"
    )
    out = subprocess.run(
        [str(python), "-c", probe], cwd=checkout.parent, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "site-packages" in out[0] and not out[0].startswith(str(REPO))
    assert out[1] == "[]"
    assert not out[0].startswith(sysconfig.get_paths()["purelib"])


def test_rules_generate_and_check_run(plain_install):
    smmc, checkout = plain_install
    generated = run(smmc, checkout, "rules", "generate")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.rstrip().endswith("0 file(s) changed"), generated.stdout
    # promtool-test, routes and inhibition run tools in subprocesses and import nothing the others do not
    checked = run(
        smmc,
        checkout,
        "rules",
        "check",
        "--skip",
        "promtool-test",
        "--skip",
        "routes",
        "--skip",
        "inhibition",
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "all checks passed" in checked.stdout


def test_dashboards_generate_runs(plain_install):
    smmc, checkout = plain_install
    (checkout / "grafana" / "dashboards" / "meters.json").unlink()
    generated = run(smmc, checkout, "dashboards", "generate")
    assert generated.returncode == 0, generated.stderr
    assert "wrote meters.json" in generated.stdout
    checked = run(smmc, checkout, "dashboards", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_check_loads_the_inhibition_scenario_only_when_alertmanager_is_there(tmp_path):
    """Without an Alertmanager binary on PATH the step says why it is skipped, and its module (which starts
    a real Alertmanager) is never imported; tests/test_alertmanager.py runs it where the binary is."""
    others = sorted(set(checks.STEP_NAMES) - {"inhibition"})
    probe = (
        "import io, sys; from pathlib import Path; from smmc.rules import checks; out = io.StringIO(); "
        f"rc = checks.run_all(Path({str(REPO)!r}), skip=set({others!r}), out=out); "
        "print(rc); print(out.getvalue()); print('smmc.rules.inhibition' in sys.modules)"
    )
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # nothing on PATH: no prometheus-alertmanager
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0] == "0", run.stdout
    assert any(line.startswith("SKIP  inhibition") and "alertmanager" in line for line in lines), run.stdout
    assert lines[-1] == "False"
