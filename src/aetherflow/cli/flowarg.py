"""The flow argument: positional ``FLOW`` or the predecessor's ``--flow-yaml FLOW``."""

from __future__ import annotations

import argparse

from aetherflow.cli.bootstrap import BundleOptions, Runtime
from aetherflow.cli.usage import UsageError
from aetherflow.errors import BundleError


def add_flow_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``FLOW`` (positional, optional) and ``--flow-yaml FLOW``."""
    parser.add_argument("flow", nargs="?", metavar="FLOW", help="the flow YAML file")
    parser.add_argument(
        "--flow-yaml",
        dest="flow_yaml",
        metavar="FLOW",
        help="the flow YAML file (alternative form)",
    )


def flow_path(args: argparse.Namespace) -> str:
    """The flow path given either way.

    Raises:
        UsageError: Neither form, or two different paths, were given.
    """
    positional, flag = args.flow, args.flow_yaml
    if positional and flag and positional != flag:
        raise UsageError(f"two different flows given: {positional!r} and --flow-yaml {flag!r}")
    path = positional or flag
    if not path:
        raise UsageError("a flow file is required: aetherflow <command> FLOW (or --flow-yaml FLOW)")
    return str(path)


def add_bundle_arguments(parser: argparse.ArgumentParser, *, stale: bool = True) -> None:
    """Add ``--bundle-manifest M`` (and ``--allow-stale-bundle``)."""
    parser.add_argument(
        "--bundle-manifest",
        metavar="M",
        help="sync the bundle of manifest M first and use its copy: FLOW is then a path inside "
        "the bundle (default: the manifest's entry_flow)",
    )
    if stale:
        parser.add_argument(
            "--allow-stale-bundle",
            action="store_true",
            help="with --bundle-manifest: if the source fails, use the last synced copy",
        )


def bundle_options(args: argparse.Namespace) -> BundleOptions | None:
    """The bundle options given, or None.

    Raises:
        UsageError: ``--allow-stale-bundle`` without ``--bundle-manifest``.
    """
    stale = bool(getattr(args, "allow_stale_bundle", False))
    if not args.bundle_manifest:
        if stale:
            raise UsageError("--allow-stale-bundle needs --bundle-manifest")
        return None
    return BundleOptions(manifest=args.bundle_manifest, allow_stale=stale)


def resolved_flow(args: argparse.Namespace, runtime: Runtime) -> str:
    """The flow file of a command: inside the synced bundle when there is one.

    Raises:
        UsageError: No flow given and no bundle, two different flows, or a flow that is not
            in the bundle.
    """
    if runtime.bundle is None:
        return flow_path(args)
    given = flow_path(args) if (args.flow or args.flow_yaml) else None
    try:
        return runtime.bundle.flow_file(given)
    except BundleError as exc:
        raise UsageError(str(exc)) from exc
