"""`smmc dashboards generate|check`: write the Control Room dashboards, or verify the committed ones."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smmc import dashboards
from smmc.options import OptionParser


def _parser() -> OptionParser:
    parser = OptionParser(
        prog="smmc dashboards",
        env_prefix="SMMC_DASHBOARDS_",
        description="Generate and check the Grafana Control Room dashboards (smmc/dashboards/).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    generate = sub.add_parser("generate", help="write grafana/dashboards/*.json from the generator")
    generate.add_argument(
        "--out", type=Path, default=dashboards.DASHBOARDS_DIR, help="output directory (default: %(default)s)"
    )
    check = sub.add_parser("check", help="fail when the committed JSON is stale or a dashboard breaks a rule")
    check.add_argument(
        "--dir",
        type=Path,
        default=dashboards.DASHBOARDS_DIR,
        help="directory with the committed dashboards (default: %(default)s)",
    )
    check.add_argument("--no-lint", action="store_true", help="only check that the JSON is up to date")
    queries = sub.add_parser("queries", help="print every panel's PromQL with variables set to match-all")
    queries.add_argument(
        "--include-optional",
        action="store_true",
        help="also panels of optional external exporters (Azure Event Hub)",
    )
    return parser


def _generate(args: argparse.Namespace) -> int:
    changed = dashboards.generate(args.out)
    for line in changed:
        print(line)
    print(f"{len(dashboards.render())} dashboards in {args.out}; {len(changed)} file(s) changed")
    return 0


def _print_queries(args: argparse.Namespace) -> int:
    for uid, title, expr in dashboards.panel_queries(include_optional=args.include_optional):
        print(json.dumps({"dashboard": uid, "panel": title, "expr": expr}))
    return 0


def _check(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        print(f"smmc dashboards check: --dir {args.dir}: no such directory", file=sys.stderr)
        return 2
    problems = dashboards.stale(args.dir)
    if problems:
        problems.append(f"run `{dashboards.GENERATE}` and commit grafana/dashboards/")
    if not args.no_lint:
        from smmc.dashboards.lint import lint

        problems.extend(lint(dashboards.build_all()))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"smmc dashboards check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"smmc dashboards check: {len(dashboards.render())} dashboards up to date and lint-clean")
    return 0


COMMANDS = {"generate": _generate, "queries": _print_queries, "check": _check}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)
