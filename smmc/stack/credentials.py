"""The stack's secrets as files (mode 0600 in a 0700 directory): a given value, else the stored one,
else a new one, generated once and reported so that the caller prints it once."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Secret:
    name: str
    path: Path
    value: str
    generated: bool
    what: str


def ensure_secret(directory: Path, name: str, given: str | None, what: str) -> Secret:
    """A secret file: the given value (it replaces a stored one), else the stored one, else a new one."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / name
    generated = False
    if given:
        value = given
    elif path.exists() and path.read_text(encoding="utf-8").strip():
        return Secret(name, path, path.read_text(encoding="utf-8").strip(), False, what)
    else:
        value = secrets.token_urlsafe(24)
        generated = True
    tmp = path.with_name(f".{name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    os.replace(tmp, path)
    return Secret(name, path, value, generated, what)
