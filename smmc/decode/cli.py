"""`smmc decode meter|csw|event|wo-error`: decode one value by hand, as a table or as JSON (`--json`).

Exit codes: 0 decoded, 2 bad input or usage (one line on stderr), 1 the catalogs could not be loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn

from smmc.catalogs import OVERRIDE_ENV, CatalogError, InvalidValue, load_catalogs
from smmc.catalogs.meter import WORD_WIDTH, WORDS
from smmc.options import OptionParser

from . import render

PROG = "smmc decode"
ENV_PREFIX = "SMMC_DECODE_"


class _UsageError(Exception):
    pass


class _Parser(OptionParser):
    """The option convention (smmc.options); errors are raised, printed as one line by `main`."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message} (see --help)")


# The sub-commands that decode one positional value: name -> (argument, help, description, example).
ONE_VALUE_COMMANDS = {
    "csw": (
        "value",
        "LVM concentrator status word",
        "Decode a concentrator status word: 6 hex digits as in the CSW report (0x allowed).",
        "08001E",
    ),
    "event": (
        "code",
        "IEC 61968-9 event code",
        "Decode an IEC 61968-9 EndDeviceEventType code type.domain.subdomain.event.",
        "3.12.29.212",
    ),
    "wo-error": (
        "text",
        "work-order result text",
        "Classify a work-order result text (HPE, LPE or technical WO report).",
        '"[READ_METER_MACADDRESS] [TB ACK_40] REPEATER 1 FAILURE"',
    ),
}


def parse_word(option: str, text: str) -> int:
    """A meter status word from the command line: hex with 0x, or decimal; at most 16 bits."""
    s = text.strip()
    if s[:2].lower() == "0x" and s[2:] and all(c in "0123456789abcdefABCDEF" for c in s[2:]):
        value = int(s[2:], 16)
    elif s.isdecimal() and s.isascii():
        value = int(s, 10)
    else:
        raise InvalidValue(
            f"{option} {text!r} is not a number (hex with 0x, e.g. 0x0009, or decimal, e.g. 9)"
        )
    if value >> WORD_WIDTH:
        raise InvalidValue(f"{option} {text} is over {WORD_WIDTH} bits (max 0xFFFF = 65535)")
    return value


def _parser() -> _Parser:
    common = _Parser(add_help=False, env_prefix=ENV_PREFIX)
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    common.add_argument(
        "--catalogs",
        metavar="DIR",
        env=OVERRIDE_ENV,
        help="site catalog override directory (default: none)",
    )
    p = _Parser(
        prog=PROG,
        env_prefix=ENV_PREFIX,
        description="Decode a meter status word, a CSW, an event code or a work-order error.",
    )
    sub = p.add_subparsers(
        dest="what", required=True, metavar="{meter,csw,event,wo-error}", parser_class=_Parser
    )

    m = sub.add_parser(
        "meter",
        parents=[common],
        help="meter status words (any subset of the four)",
        description="Decode NEXY-M status words. Values in hex (0x0009) or decimal (9), at most 16 bits.",
    )
    for word in WORDS:
        m.add_argument(f"--{word}", metavar="VALUE", help=f"{word} status word")

    for name, (dest, summary, description, example) in ONE_VALUE_COMMANDS.items():
        one = sub.add_parser(name, parents=[common], help=summary, description=description)
        one.add_argument(dest, help=f"e.g. {example}")
    return p


def _run(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    cat = load_catalogs(args.catalogs)
    if args.what == "meter":
        words = {w: parse_word(f"--{w}", getattr(args, w)) for w in WORDS if getattr(args, w) is not None}
        if not words:
            raise _UsageError(
                f"{PROG} meter: give at least one of {', '.join('--' + w for w in WORDS)} (see --help)"
            )
        bits = cat.decode_meter_words(words)
        return render.meter_text(words, bits), render.meter_json(words, bits)
    if args.what == "csw":
        d = cat.decode_csw(args.value)
        return render.csw_text(d, cat), render.csw_json(d)
    if args.what == "event":
        ev = cat.event_type(args.code)
        return render.event_text(ev, cat), render.event_json(ev)
    match = cat.classify_wo_error(args.text)
    return render.wo_error_text(match, cat), render.wo_error_json(match)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        text, data = _run(args)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except InvalidValue as exc:
        print(f"{PROG} {args.what}: {exc}", file=sys.stderr)
        return 2
    except CatalogError as exc:
        print(f"{PROG}: catalog error: {exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text, flush=True)
    except BrokenPipeError:  # `smmc decode csw FFFFFF | head -3`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
