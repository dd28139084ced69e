"""`smmc k8s generate|check|validate`: Kubernetes manifests and prometheus-operator resources.

generate  writes deploy/kubernetes/ (or --out DIR) from the repository's rules, prometheus.yml,
          alertmanager.yml, actions.yml and Alertmanager templates.
check     regenerates in memory with the same settings and fails on a stale, missing or extra file in
          deploy/kubernetes/, then validates every manifest against the Kubernetes and prometheus-operator
          schemas (offline).
validate  validates the given YAML files (any number of documents each) against the same schemas.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

import yaml

from smmc.k8s import manifests, render, sources, timezones, validate
from smmc.k8s.alertmanager import ConversionError
from smmc.options import OptionParser
from smmc.repo import REPO_ROOT


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    d = manifests.Settings()
    parser.add_argument("--namespace", default=d.namespace, help=f"namespace (default {d.namespace})")
    parser.add_argument(
        "--image", default="", help="image of the Python services (default smmc-monitoring:<version>)"
    )
    parser.add_argument(
        "--receiver-database-secret",
        default=None,
        metavar="SECRET",
        help="Secret whose key `url` holds the receiver's postgresql:// URL; without it the receiver keeps "
        "SQLite on a PersistentVolumeClaim",
    )
    parser.add_argument(
        "--receiver-replicas", type=int, default=None, help="default 1 (SQLite) or 2 (PostgreSQL)"
    )
    parser.add_argument("--alertmanager-replicas", type=int, default=d.alertmanager_replicas)
    parser.add_argument("--prometheus-replicas", type=int, default=d.prometheus_replicas)
    parser.add_argument(
        "--storage-class", default=None, help="storageClassName of every claim (default: cluster's)"
    )


def settings_from(args: argparse.Namespace) -> manifests.Settings:
    if (
        args.receiver_replicas is not None
        and args.receiver_replicas > 1
        and not args.receiver_database_secret
    ):
        raise SystemExit(
            "smmc k8s: more than one receiver replica needs --receiver-database-secret (PostgreSQL)"
        )
    return manifests.Settings(
        namespace=args.namespace,
        image=args.image,
        receiver_database_secret=args.receiver_database_secret,
        receiver_replicas=args.receiver_replicas,
        alertmanager_replicas=args.alertmanager_replicas,
        prometheus_replicas=args.prometheus_replicas,
        storage_class=args.storage_class,
    )


def generate_files(root: Path, settings: manifests.Settings) -> dict[str, str]:
    src = sources.load(root)
    return render.render(manifests.build(src, settings), settings.namespace)


def stale_files(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Paths (relative to out_dir) that differ from, are missing from, or are extra to `files`."""
    return render.artifacts(out_dir, files).stale()


def validate_paths(paths: list[Path], base: Path | None = None) -> list[validate.Problem]:
    problems = []
    for path in paths:
        where = path.relative_to(base).as_posix() if base else str(path)
        if path.name == "kustomization.yaml":
            continue
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            problems.append(validate.Problem(where, f"not valid YAML: {exc}"))
            continue
        problems += validate.validate_documents(where, documents)
    return problems


def _write(out_dir: Path, files: dict[str, str], out: TextIO) -> int:
    changed = render.artifacts(out_dir, files).write()
    for line in changed:
        print(line, file=out)
    print(f"{len(files)} files in {out_dir}, {len(changed)} changed", file=out)
    return 0


def _step(text: str) -> None:
    """A progress line per step of `check`, as `smmc rules check` prints (its slow steps say so)."""
    print(f"== {text}", flush=True)


def main(argv: list[str]) -> int:
    parser = OptionParser(prog="smmc k8s", env_prefix="SMMC_K8S_", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write the manifests")
    gen.add_argument(
        "--out", type=Path, default=None, help=f"output directory (default <root>/{render.OUT_DIR})"
    )
    add_settings_arguments(gen)
    chk = sub.add_parser("check", help="staleness and schema validation of deploy/kubernetes/")
    chk.add_argument(
        "--out", type=Path, default=None, help=f"directory to check (default <root>/{render.OUT_DIR})"
    )
    add_settings_arguments(chk)
    val = sub.add_parser("validate", help="validate YAML manifest files against the schemas")
    val.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)

    try:
        if args.command == "validate":
            problems = validate_paths(args.files)
            for p in problems:
                print(p, file=sys.stderr)
            print(f"{len(args.files)} file(s), {len(problems)} problem(s)")
            return 1 if problems else 0

        out_dir = args.out or args.root / render.OUT_DIR
        checking = args.command == "check"
        if checking:
            _step("render the manifests from the repository")
        files = generate_files(args.root, settings_from(args))
        if not checking:
            return _write(out_dir, files, sys.stdout)

        _step(f"compare {len(files)} files with {out_dir}")
        problems = stale_files(out_dir, files)
        for p in problems:
            print(f"{out_dir}/{p}  (run `smmc k8s generate`)", file=sys.stderr)
        paths = sorted(out_dir.rglob("*.yaml"))
        _step(
            f"validate {len(paths)} files against the Kubernetes {', '.join(validate.KUBERNETES_VERSIONS)} "
            "and prometheus-operator schemas (loading the schemas takes a while)"
        )
        invalid = validate_paths(paths, base=out_dir)
        for p in invalid:
            print(f"{out_dir}/{p}", file=sys.stderr)
        expiring = timezones.years_run_out(date.today())
        if expiring:
            invalid.append(expiring)
            print(f"smmc k8s: {expiring}", file=sys.stderr)
        print(
            f"{len(files)} files: {len(problems)} stale, {len(invalid)} schema problem(s) "
            f"(Kubernetes {', '.join(validate.KUBERNETES_VERSIONS)}; prometheus-operator schemas "
            f"{validate.crd_schema_version()})"
        )
        return 1 if problems or invalid else 0
    except (sources.SourceError, ConversionError, validate.SchemaUnavailable) as exc:
        print(f"smmc k8s: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
