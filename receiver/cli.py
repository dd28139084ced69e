"""`smmc receiver`: the alert -> action webhook receiver (default port 9820)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from receiver.app import DEFAULT_MAX_BODY
from receiver.auth import check_token, load_operator_tokens
from receiver.config import ConfigError, load_config
from receiver.payload import DEFAULT_MAX_ALERTS
from receiver.store import open_store
from smmc.options import OptionParser, log_level, positive_int
from smmc.redact import install_log_redaction


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"wants HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def read_token(token_file: str | None) -> str | None:
    """The webhook token from the file or $SMMC_RECEIVER_TOKEN; `CredentialError` when too short."""
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise ValueError(f"token file {token_file} is empty")
        return check_token(token, f"the webhook token in {token_file}")
    token = os.environ.get("SMMC_RECEIVER_TOKEN") or None
    return None if token is None else check_token(token, "the webhook token ($SMMC_RECEIVER_TOKEN)")


def main(argv: list[str]) -> int:
    parser = OptionParser(prog="smmc receiver", env_prefix="SMMC_RECEIVER_", description=__doc__)
    parser.add_argument("--config", default="alertmanager/actions.yml", help="the action map (YAML)")
    parser.add_argument(
        "--db",
        help="database: a SQLite path or sqlite:///PATH (default data/receiver.db), or postgresql://...",
    )
    parser.add_argument(
        "--listen",
        type=parse_listen,
        default="127.0.0.1:9820",
        help="HOST:PORT (default 127.0.0.1:9820, this machine only; say 0.0.0.0:9820 to take webhooks "
        "from other hosts)",
    )
    parser.add_argument(
        "--token-file",
        help="file with the webhook bearer token, at least 16 characters (else $SMMC_RECEIVER_TOKEN)",
    )
    parser.add_argument(
        "--operator-tokens",
        help="operators' tokens, one per person: a directory with one file per operator (file name = "
        "operator, content = token) or a file of `name: token` lines; without it nobody can approve, "
        "reject or retry actions",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BODY,
        help="largest webhook body taken, in bytes (larger: 413)",
    )
    parser.add_argument(
        "--max-alerts",
        type=positive_int,
        default=DEFAULT_MAX_ALERTS,
        help="most alerts taken in one notification (more: 413); set Alertmanager's webhook_config "
        "max_alerts to the same number",
    )
    parser.add_argument("--worker-threads", type=positive_int, default=4, help="dispatch threads")
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="accept and store only; do not dispatch (another replica dispatches)",
    )
    parser.add_argument("--check-config", action="store_true", help="validate the action map and exit")
    parser.add_argument("--log-level", type=log_level, default="INFO", help="logging level")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    install_log_redaction()  # target and chat URLs in adapter errors lose userinfo and credential params

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"smmc receiver: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{args.config}: {len(config.rules)} rules, receivers {sorted(config.receivers)}: OK")
        return 0
    try:
        token = read_token(args.token_file)
        operators = load_operator_tokens(args.operator_tokens) if args.operator_tokens else {}
    except (OSError, ValueError) as exc:  # CredentialError is a ValueError
        print(f"smmc receiver: {exc}", file=sys.stderr)
        return 2
    if token is not None and token in operators.values():
        print("smmc receiver: an operator token equals the webhook token", file=sys.stderr)
        return 2
    if args.max_body_bytes < 1024:
        print("smmc receiver: --max-body-bytes must be at least 1024", file=sys.stderr)
        return 2
    if token is None:
        print(
            "smmc receiver: no webhook token: set SMMC_RECEIVER_TOKEN or pass --token-file", file=sys.stderr
        )
        return 2
    try:
        store = open_store(args.db)
    except Exception as exc:
        print(f"smmc receiver: cannot open the database: {exc}", file=sys.stderr)
        return 1

    import uvicorn
    from prometheus_client import disable_created_metrics

    from receiver.service import build_receiver

    disable_created_metrics()  # no *_created series next to every counter and histogram

    receiver = build_receiver(
        config,
        store,
        token,
        run_worker=not args.no_worker,
        worker_threads=args.worker_threads,
        max_body_bytes=args.max_body_bytes,
        operators=operators,
        max_alerts=args.max_alerts,
    )
    if not operators:
        logging.getLogger("smmc.receiver").warning(
            "no --operator-tokens: actions that need a human approval wait until operators are configured"
        )
    host, port = args.listen
    uvicorn.run(receiver.app, host=host, port=port, log_level=args.log_level.lower(), access_log=False)
    store.close()
    return 0
