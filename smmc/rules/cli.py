"""`smmc rules generate|check`: the one command an SRE runs before pushing a rule change."""

from __future__ import annotations

import sys
from pathlib import Path

from smmc.options import OptionParser
from smmc.repo import REPO_ROOT
from smmc.rules import checks, render, validate
from smmc.rules.model import RulesError, load


def _generate(root: Path) -> int:
    rs = load(root)
    problem = validate.first_problem(rs)
    if problem is not None:
        print(f"smmc rules generate: rules/thresholds.yml: {problem}; nothing written", file=sys.stderr)
        return 1
    changed = render.artifacts(rs, root).write()
    for line in changed:
        print(line)
    print(f"{len(rs.alerts)} alerts, {len(rs.recording)} recording rules; {len(changed)} file(s) changed")
    return 0


def main(argv: list[str]) -> int:
    parser = OptionParser(prog="smmc rules", env_prefix="SMMC_RULES_", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "generate", help="rewrite the generated rule, test and doc files from rules/thresholds.yml"
    )
    check = sub.add_parser("check", help="staleness, promtool, amtool, lint: non-zero exit on any problem")
    check.add_argument("--skip", action="append", default=[], choices=checks.STEP_NAMES, help="skip a step")
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args.root)
        return checks.run_all(args.root, skip=set(args.skip), out=sys.stdout)
    except RulesError as exc:
        print(f"smmc rules {args.command}: {exc}", file=sys.stderr)
        return 1
