"""``aetherflow bundle sync`` and ``aetherflow bundle status``."""

from __future__ import annotations

import argparse
import logging

from aetherflow.cli.bootstrap import bootstrap
from aetherflow.cli.output import print_json
from aetherflow.cli.usage import SubParsers

log = logging.getLogger("aetherflow.cli.bundle")

EXAMPLES = """examples:
  aetherflow bundle sync --bundle-manifest bundles/nightly.yaml
  aetherflow bundle sync --bundle-manifest bundles/nightly.yaml --json | jq .fingerprint
  aetherflow bundle status --bundle-manifest bundles/nightly.yaml
  aetherflow run --bundle-manifest bundles/nightly.yaml      # sync, then run the entry flow

exit status: 0 synced (or stale with --allow-stale-bundle), 1 the sync failed, 2 invalid manifest"""


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add the ``bundle`` command group."""
    bundle = sub.add_parser(
        "bundle",
        parents=[common],
        help="sync a bundle or show its local status",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = bundle.add_subparsers(dest="bundle_command", metavar="COMMAND", required=True)
    sync = group.add_parser(
        "sync",
        parents=[common],
        help="bring the local copy up to date",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(sync)
    sync.add_argument(
        "--allow-stale-bundle",
        action="store_true",
        help="if the source fails, keep the last synced copy (exit 0, bundle_stale warning)",
    )
    sync.add_argument(
        "--print-local-root", action="store_true", help="text mode: also print the local root"
    )
    sync.set_defaults(handler=run_sync)
    status = group.add_parser(
        "status",
        parents=[common],
        help="the local copy, without contacting the source",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(status)
    status.set_defaults(handler=run_status)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle-manifest", metavar="M", required=True, help="the manifest")
    parser.add_argument(
        "--work-root", metavar="DIR", help="parent of bundles/ (default: AETHERFLOW_WORK_ROOT)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def run_sync(args: argparse.Namespace) -> int:
    """Sync and report ``CHANGED``, ``UNCHANGED`` or ``STALE``."""
    from aetherflow.bundles.manifest import load_manifest  # noqa: PLC0415 - start-up time
    from aetherflow.bundles.sync import sync_bundle  # noqa: PLC0415

    runtime = bootstrap()
    manifest = load_manifest(args.bundle_manifest)
    work_root = args.work_root or runtime.settings.work_root

    def stale(message: str) -> None:
        log.warning(
            "bundle %s: the source failed, using the last synced copy: %s",
            manifest.bundle_id,
            message,
            extra={
                "event": "bundle_stale",
                "event_fields": {"bundle_id": manifest.bundle_id, "error": message},
            },
        )

    result = sync_bundle(manifest, work_root, allow_stale=args.allow_stale_bundle, on_stale=stale)
    if args.json:
        print_json(result.as_dict())
        return 0
    word = "STALE" if result.stale else "CHANGED" if result.changed else "UNCHANGED"
    verb = "synced to" if result.changed else "at"
    print(
        f"{word}: bundle {result.bundle_id} {verb} {result.local_root} "
        f"fingerprint={result.fingerprint}"
    )
    if args.print_local_root:
        print(result.local_root)
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Print the local status."""
    from aetherflow.bundles.manifest import load_manifest  # noqa: PLC0415 - start-up time
    from aetherflow.bundles.status import bundle_status  # noqa: PLC0415

    runtime = bootstrap()
    manifest = load_manifest(args.bundle_manifest)
    status = bundle_status(manifest, args.work_root or runtime.settings.work_root)
    if args.json:
        print_json(status)
        return 0
    print(
        f"bundle_id={status['bundle_id']} fingerprint={status['fingerprint'] or '(none)'} "
        f"has_active={'yes' if status['has_active'] else 'no'}"
    )
    for key in ("active_dir", "local_root", "cache_dir", "fingerprints_dir", "last_error"):
        if status[key] is not None:
            print(f"{key}={status[key]}")
    return 0
