"""The repository checkout the generators read their sources from and write their artifacts into.

Found once, here. Run from a checkout (an editable install, or the source tree on sys.path), it is the
checkout this package was imported from. With a plain `pip install .` the package lives in
site-packages, so the checkout is the current directory or the nearest parent of it that holds
rules/thresholds.yml. Every generator also takes `--root` to name another one.
"""

from __future__ import annotations

from pathlib import Path

MARKER = Path("rules") / "thresholds.yml"


def is_root(path: Path) -> bool:
    return (path / MARKER).is_file()


def find_root(cwd: Path | None = None, package_dir: Path | None = None) -> Path:
    """The checkout (see the module's docstring); the current directory when none is found, so that a
    generator then reports the missing source file by its path."""
    package_checkout = (package_dir or Path(__file__).resolve().parent).parent
    if is_root(package_checkout):
        return package_checkout
    start = (cwd or Path.cwd()).resolve()
    return next((path for path in (start, *start.parents) if is_root(path)), start)


REPO_ROOT = find_root()
