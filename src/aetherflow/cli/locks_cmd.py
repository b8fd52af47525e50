"""``aetherflow locks list`` and ``aetherflow locks release``."""

from __future__ import annotations

import argparse
import getpass
import logging
import socket
from typing import Any

from aetherflow.cli.bootstrap import bootstrap
from aetherflow.cli.output import print_json
from aetherflow.cli.stateargs import add_state_arguments, open_store, state_url
from aetherflow.cli.usage import SubParsers, UsageError
from aetherflow.runner.lease import iso_ms, run_lease_key
from aetherflow.state import StateStore
from aetherflow.state.records import Lease

log = logging.getLogger("aetherflow.cli.locks")

EXAMPLES = """examples:
  aetherflow locks list flows/nightly.yaml
  aetherflow locks list --state sqlite:///var/lib/aetherflow/state.db --json
  aetherflow locks release publish:nightly flows/nightly.yaml --force \\
      --reason "holder host was decommissioned (INC-1234)"

A forced release deletes the lock row (never the fencing counter) and records an audit entry.
Only do it when the holder is certainly gone: its run lease is dead (holder_alive false) or the
host is. A live holder loses the lock at its next heartbeat and its step fails with lost_lock."""


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add the ``locks`` command group."""
    locks = sub.add_parser(
        "locks",
        parents=[common],
        help="inspect and release locks",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = locks.add_subparsers(dest="locks_command", metavar="COMMAND", required=True)
    listing = group.add_parser(
        "list",
        parents=[common],
        help="current locks with holder liveness",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_state_arguments(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)
    release = group.add_parser(
        "release",
        parents=[common],
        help="force-release a lock (audited)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    release.add_argument("key", metavar="KEY")
    add_state_arguments(release)
    release.add_argument("--force", action="store_true", help="required: yes, delete it")
    release.add_argument("--reason", required=True, metavar="TEXT", help="why (audited)")
    release.set_defaults(handler=run_release)


def holder_alive(store: StateStore, lease: Lease) -> bool:
    """True when the holder's run lease exists and has not expired."""
    run = store.get_lease(run_lease_key(lease.holder.flow_id, lease.holder.run_id))
    return run is not None and run.expires_at > store.now_ms()


def describe_lock(store: StateStore, lease: Lease) -> dict[str, Any]:
    """The ``locks list --json`` entry."""
    holder = lease.holder
    return {
        "key": lease.key,
        "token": lease.token,
        "acquired_at": iso_ms(lease.acquired_at),
        "expires_at": iso_ms(lease.expires_at),
        "expired": lease.expires_at <= store.now_ms(),
        "holder": {
            "run_id": holder.run_id,
            "flow_id": holder.flow_id,
            "job_id": holder.job_id,
            "step_id": holder.step_id,
            "host": holder.host,
            "pid": holder.pid,
        },
        "holder_alive": holder_alive(store, lease),
    }


def run_list(args: argparse.Namespace) -> int:
    """Print the locks (run leases are not locks and are left out)."""
    runtime = bootstrap()
    url, _ = state_url(args, runtime)
    store = open_store(url)
    try:
        locks = [
            describe_lock(store, lease)
            for lease in store.list_leases()
            if not lease.key.startswith("run:")
        ]
    finally:
        store.close()
    if args.json:
        print_json(locks)
        return 0
    width = max([len("KEY"), *(len(lock["key"]) for lock in locks)])
    print(
        f"{'KEY':<{width}}  {'TOKEN':>5}  {'HOLDER':<32}  {'HOST/PID':<20}  {'EXPIRES':<24}  ALIVE"
    )
    for lock in locks:
        h = lock["holder"]
        who = f"{h['run_id']}/{h['job_id'] or '-'}/{h['step_id'] or '-'}"
        alive = "yes" if lock["holder_alive"] else "no"
        expires = lock["expires_at"] + (" (expired)" if lock["expired"] else "")
        print(
            f"{lock['key']:<{width}}  {lock['token']:>5}  {who:<32}  "
            f"{h['host'] + '/' + str(h['pid']):<20}  {expires:<24}  {alive}"
        )
    return 0


def run_release(args: argparse.Namespace) -> int:
    """Delete a lock and record who did it and why; exit 2 when it does not exist."""
    if not args.force:
        raise UsageError("refusing to release a lock without --force (read 'locks release --help')")
    if not args.reason.strip():
        raise UsageError("--reason must say why the lock is released (it is audited)")
    runtime = bootstrap()
    url, _ = state_url(args, runtime)
    store = open_store(url)
    try:
        if store.get_lease(args.key) is None:
            raise UsageError(f"no lock {args.key!r} in {url}")
        actor = f"{getpass.getuser()}@{socket.gethostname()}"
        removed = store.force_release(args.key, reason=args.reason, actor=actor)
    finally:
        store.close()
    assert removed is not None
    log.warning(
        "lock_forced_release",
        extra={
            "event": "lock_forced_release",
            "event_fields": {
                "key": args.key,
                "token": removed.token,
                "holder": removed.holder.describe(),
                "reason": args.reason,
                "actor": actor,
            },
        },
    )
    print(f"released lock {args.key} (token {removed.token}, held by {removed.holder.describe()})")
    return 0
