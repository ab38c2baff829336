"""The `phonos` command.

    phonos serve [--http-port P] [--grpc-port P] [--data-dir D] [--metrics-port P]
    phonos keys create --username NAME [--email E] [--credits N] [--rate-limit R] [--data-dir D] [--json]
    phonos db build FASTA OUTDIR [--name uniref90|mgnify|small_bfd]   (a small AlphaFold2 MSA database)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from phonos_models.alphafold2 import build_db

from jobservice.admin import create_key
from jobservice.errors import PhonosError
from jobservice.private_files import private_umask, secure_data_dir
from phonos_config.service import ServiceSettings


def _settings(args: argparse.Namespace) -> ServiceSettings:
    overrides: dict[str, object] = {}
    for flag, field in (("data_dir", "data_dir"), ("http_port", "http_port"), ("grpc_port", "grpc_port"),
                        ("metrics_port", "metrics_port")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[field] = value
    return ServiceSettings.from_env().with_overrides(**overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from launcher.serve import serve

    return serve(_settings(args))


def cmd_keys_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    secure_data_dir(settings.data_dir, settings.database_path)
    try:
        key = asyncio.run(create_key(
            settings.database_path, username=args.username, email=args.email,
            credits=settings.default_credits if args.credits is None else args.credits,
            rate_limit=settings.default_rate_limit if args.rate_limit is None else args.rate_limit,
        ))
    except PhonosError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. duplicate username
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"api_key": key.api_key, "account_id": key.account_id}))
    else:
        print(key.api_key)
        print(f"(account {key.account_id}; the key is shown only now: store it)", file=sys.stderr)
    return 0


def cmd_db_build(args: argparse.Namespace) -> int:
    return int(build_db.main([str(args.fasta), str(args.outdir), "--name", args.name]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phonos", description="Self-hosted ESMFold, AlphaFold2 and DiffDock API")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start Triton, the job service and the gateway")
    serve.add_argument("--http-port", type=int, help="gateway port (default 8080)")
    serve.add_argument("--grpc-port", type=int, help="job service gRPC port (default 50051)")
    serve.add_argument("--data-dir", type=Path, help="state directory (default ./var)")
    serve.add_argument("--metrics-port", type=int, help="Prometheus /metrics port on loopback (default 9464)")
    serve.set_defaults(func=cmd_serve)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an account with a new API key")
    create.add_argument("--username", required=True)
    create.add_argument("--email")
    create.add_argument("--credits", type=int, help="starting balance (default PHONOS_DEFAULT_CREDITS)")
    create.add_argument("--rate-limit", type=int, help="requests per minute for this key (default 60)")
    create.add_argument("--data-dir", type=Path, help="state directory (default ./var)")
    create.add_argument("--json", action="store_true", help="print one JSON object with api_key and account_id")
    create.set_defaults(func=cmd_keys_create)

    db = sub.add_parser("db", help="AlphaFold2 sequence databases").add_subparsers(dest="db_command", required=True)
    build = db.add_parser("build", help="build a small MSA search database from a FASTA file (tests, demos)")
    build.add_argument("fasta", type=Path)
    build.add_argument("outdir", type=Path)
    build.add_argument("--name", default="uniref90", choices=build_db.DATABASE_NAMES)
    build.set_defaults(func=cmd_db_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    private_umask()  # the data dir holds keys' hashes, webhook secrets and every job's data
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
