"""One option convention for every `smmc` command.

- Every option `--some-option` of a command also comes from an environment variable: the command's
  prefix plus the option's name in capitals (`smmc exporter opengate --url` <- `SMMC_OPENGATE_URL`),
  unless the option names another variable (compose's `.env` names, e.g. `SMMC_SIM_METERS`). The
  command line wins over the variable, the variable over the default.
- `--help` shows each option's variable and default.
- A variable that is set satisfies a required option. A bad value (not a number, not one of the
  choices, not a boolean) is reported like a bad option, naming the variable; `--help` still works.
- Every usage error is one line on stderr and exit status 2: `prog: what is wrong (see prog --help)`.

    parser = OptionParser(prog="smmc exporter opengate", env_prefix="SMMC_OPENGATE_", description=...)
    parser.add_argument("--url", required=True, type=url_with_scheme, help="OpenGate base URL")
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


class EnvValue(str):
    """A default that came from an environment variable (so its errors can name the variable)."""

    variable: str

    def __new__(cls, value: str, variable: str) -> EnvValue:
        obj = super().__new__(cls, value)
        obj.variable = variable
        return obj


def _named_type(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """`convert` with errors that name the variable when the value came from one."""

    def typed(text: str) -> Any:
        try:
            return convert(text)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            if isinstance(text, EnvValue):
                detail = (
                    str(exc) if isinstance(exc, argparse.ArgumentTypeError) else f"invalid value {text!r}"
                )
                raise argparse.ArgumentTypeError(f"{detail} (from ${text.variable})") from exc
            raise

    typed.__name__ = getattr(convert, "__name__", "value")
    return typed


def env_name(prefix: str, option: str) -> str:
    return prefix + option.lstrip("-").replace("-", "_").upper()


class OptionParser(argparse.ArgumentParser):
    """argparse with the convention above. Subparsers inherit the class; give each its `env_prefix`."""

    def __init__(
        self,
        *args: Any,
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.env_prefix = env_prefix
        self.environ = os.environ if environ is None else environ
        self.env_of: dict[str, str] = {}  # dest -> variable
        self._env_bools: list[argparse.Action] = []
        self._env_choices: list[argparse.Action] = []
        self._env_lists: list[argparse.Action] = []
        for parent in kwargs.get("parents") or ():  # their actions are shared: so is what to check
            if isinstance(parent, OptionParser):
                self.env_of.update(parent.env_of)
                self._env_bools += parent._env_bools
                self._env_choices += parent._env_choices
                self._env_lists += parent._env_lists

    def add_argument(self, *flags: Any, env: str | None = None, **kwargs: Any) -> argparse.Action:
        """`env`: the variable (default: prefix + option name); "" for an option with no variable."""
        return self._add(super().add_argument, flags, env, kwargs)

    def add_subparsers(self, **kwargs: Any) -> Any:
        """Subcommands share the command's prefix unless given their own `env_prefix`."""
        action = super().add_subparsers(**kwargs)
        original = action.add_parser

        def add_parser(name: str, **kw: Any) -> Any:
            if issubclass(action._parser_class, OptionParser):
                kw.setdefault("env_prefix", self.env_prefix)
                kw.setdefault("environ", self.environ)
            return original(name, **kw)

        action.add_parser = add_parser  # type: ignore[method-assign]
        return action

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        return self._route(super().add_argument_group(*args, **kwargs))

    def add_mutually_exclusive_group(self, **kwargs: Any) -> Any:
        return self._route(super().add_mutually_exclusive_group(**kwargs))

    def _route(self, group: Any) -> Any:
        """A group's options follow the convention too."""
        original = group.add_argument

        def add_argument(*flags: Any, env: str | None = None, **kwargs: Any) -> argparse.Action:
            return self._add(original, flags, env, kwargs)

        group.add_argument = add_argument
        return group

    def _add(
        self, add: Callable[..., argparse.Action], flags: tuple[Any, ...], env: str | None, kwargs: dict
    ) -> argparse.Action:
        is_option = bool(flags) and isinstance(flags[0], str) and flags[0].startswith("-")
        action_name = kwargs.get("action")
        if (
            not is_option
            or action_name in ("help", "version")
            or env == ""
            or (env is None and self.env_prefix is None)
        ):
            return add(*flags, **kwargs)
        long_flag = next((f for f in flags if f.startswith("--")), flags[0])
        variable = env or env_name(self.env_prefix or "", long_flag)
        raw = self.environ.get(variable)
        is_bool = action_name in ("store_true", "store_false")
        if "type" in kwargs and kwargs["type"] is not None:
            kwargs["type"] = _named_type(kwargs["type"])
        default = kwargs.get("default")
        if raw is not None and raw != "":
            kwargs["required"] = False
            if action_name == "append":
                # converted (and checked) after parsing, like a scalar variable
                kwargs["default"] = [EnvValue(v.strip(), variable) for v in raw.split(",") if v.strip()]
            else:
                kwargs["default"] = EnvValue(raw, variable)
        kwargs["help"] = self._help(kwargs.get("help"), variable, default, is_bool)
        action = add(*flags, **kwargs)
        self.env_of[action.dest] = variable
        if raw is not None and raw != "":
            if action_name == "append" and (action.type is not None or action.choices is not None):
                self._env_lists.append(action)
            elif is_bool:
                self._env_bools.append(action)
            elif action.choices is not None and action.type is None:
                self._env_choices.append(action)
        return action

    @staticmethod
    def _help(text: str | None, variable: str, default: Any, is_bool: bool) -> str:
        if text == argparse.SUPPRESS:
            return text
        parts = [f"${variable}"]
        if not is_bool and default not in (None, "", [], ()) and "default" not in (text or ""):
            parts.append(f"default {default}")
        suffix = f"[{'; '.join(parts)}]".replace("%", "%%")
        return f"{text} {suffix}" if text else suffix

    def parse_known_args(
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns, rest = super().parse_known_args(args, namespace)
        for action in self._env_bools:
            value = getattr(ns, action.dest, None)
            if isinstance(value, EnvValue):
                text = value.strip().lower()
                if text not in TRUE | FALSE:
                    self.error(f"${value.variable}={str(value)!r} is not a boolean (1/0, true/false, yes/no)")
                truth = text in TRUE
                setattr(ns, action.dest, truth if action.const is True else not truth)
        for action in self._env_lists:
            values = getattr(ns, action.dest, None) or []
            converted = []
            for value in values:
                if not isinstance(value, EnvValue):
                    converted.append(value)
                    continue
                try:
                    item = action.type(value) if action.type is not None else value  # type: ignore[misc]
                except argparse.ArgumentTypeError as exc:
                    self.error(f"argument {'/'.join(action.option_strings)}: {exc}")
                if action.choices is not None and item not in action.choices:
                    choices = ", ".join(map(str, action.choices))
                    self.error(f"${value.variable}: {str(value)!r} is not one of: {choices}")
                converted.append(item)
            setattr(ns, action.dest, converted)
        for action in self._env_choices:
            value = getattr(ns, action.dest, None)
            if isinstance(value, EnvValue) and value not in (action.choices or ()):
                choices = ", ".join(map(str, action.choices or ()))
                self.error(f"${value.variable}={str(value)!r} is not one of: {choices}")
        return ns, rest

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):
            missing = message.split(":", 1)[1].strip().split(", ")
            named = []
            for flag in missing:
                dest = next(
                    (a.dest for a in self._actions if flag in a.option_strings or a.dest == flag), None
                )
                variable = self.env_of.get(dest or "")
                named.append(f"{flag} (or ${variable})" if variable else flag)
            message = f"missing {', '.join(named)}"
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def fail(prog: str, message: str, status: int = 2) -> int:
    """Print one line on stderr and return the exit status (`return fail(...)` from a main)."""
    print(f"{prog}: {message}", file=sys.stderr)
    return status


# -- argparse types shared by the commands -------------------------------------------------------------


def url_with_scheme(text: str) -> str:
    """An http(s) URL; `127.0.0.1:9830` without a scheme is refused now, not in the log seconds later."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text


def log_level(text: str) -> str:
    """A logging level name (debug, info, warning, error, critical), upper-cased."""
    name = text.strip().upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level (debug, info, warning, error, critical)"
        )
    return name


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def writable_dir(text: str) -> Path:
    """A directory to write into: created when missing; refused (one line) when it cannot be."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: cannot create it ({exc.strerror})") from exc
    if not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text}: not writable")
    return path


def writable_file(text: str) -> Path:
    """A file to write: not a directory, in a directory that exists (or can be created) and is writable."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a directory, not a file")
    writable_dir(str(path.parent) if str(path.parent) else ".")
    return path
