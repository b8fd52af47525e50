"""``aetherflow doctor`` and ``aetherflow explain``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aetherflow.cli.bootstrap import Runtime, bootstrap
from aetherflow.cli.flowarg import add_flow_argument, flow_path
from aetherflow.cli.output import one_line, print_json
from aetherflow.cli.usage import SubParsers
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.connectors import instantiate
from aetherflow.runner.diagnostics import (
    DoctorReport,
    check_connector_libraries,
    check_state_location,
    explain_resource,
    load_profiles_for,
    missing_env,
)
from aetherflow.runner.engine import state_location
from aetherflow.runner.resources import ResourceResolver
from aetherflow.runner.validation import ValidationOptions, validate_flow_file
from aetherflow.runtime.profiles import profile_vars
from aetherflow.runtime.redact import Redactor
from aetherflow.spec.flow import FlowSpec

DOCTOR_EXAMPLES = """examples:
  aetherflow doctor flows/nightly.yaml
  aetherflow doctor flows/nightly.yaml --json | jq '.missing_env[].env'
  aetherflow doctor flows/nightly.yaml --connect      # also open each resource's connection

exit status: 0 everything needed is there, 2 something is missing"""

EXPLAIN_EXAMPLES = """examples:
  aetherflow explain flows/nightly.yaml
  aetherflow explain flows/nightly.yaml --json | jq '.resources.warehouse.config'"""


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add ``doctor`` and ``explain``."""
    doctor = sub.add_parser(
        "doctor",
        parents=[common],
        help="check the environment a flow needs",
        description="Check what a flow needs from this machine: env variables of resources and "
        "profiles, the secrets hook, plugin paths, the state location, connector libraries "
        "and (with --connect) reachability of resources.",
        epilog=DOCTOR_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flow_argument(doctor)
    doctor.add_argument("--json", action="store_true", help="print JSON")
    doctor.add_argument("--connect", action="store_true", help="connect to each resource")
    doctor.set_defaults(handler=run_doctor)
    explain = sub.add_parser(
        "explain",
        parents=[common],
        help="show where each resource value comes from",
        description="Per resource: connector, profile, and for each config/options value where "
        "it comes from (the flow, the profile, env variables) and whether it is decoded. "
        "Secrets are shown as ***.",
        epilog=EXPLAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flow_argument(explain)
    explain.add_argument("--json", action="store_true", help="print JSON")
    explain.set_defaults(handler=run_explain)


def _profile_env(runtime: Runtime) -> dict[str, str]:
    return profile_vars(runtime.settings.profiles_file, runtime.settings.profiles_json)


def _load(path: str, runtime: Runtime, report: DoctorReport | None) -> FlowSpec | None:
    options = ValidationOptions(
        env=runtime.env,
        registry=runtime.registry,
        env_strict=False,
        secrets_configured=runtime.secrets is not None,
        work_root=runtime.settings.work_root,
        profiles_env=_profile_env(runtime),
    )
    validation = validate_flow_file(path, options)
    if validation.flow is None:
        if report is not None:
            report.errors.extend(
                f"{i.where()} {i.code}: {one_line(i.msg)}" for i in validation.errors
            )
        return None
    return validation.flow


def _connect(flow: FlowSpec, runtime: Runtime, report: DoctorReport) -> None:
    resolver = ResourceResolver(
        flow.resources,
        profiles=load_profiles_for(report, _profile_env(runtime)),
        env=runtime.env,
        secrets=runtime.secrets,
    )
    for name in flow.resources:
        try:
            resolved = resolver[name]
            cls = runtime.registry.connector(resolved.kind, resolved.driver)
            connector = instantiate(
                cls,
                ConnectorInit(
                    name, resolved.kind, resolved.driver, resolved.config, resolved.options
                ),
            )
            check = getattr(connector, "check", None) or getattr(connector, "ping", None)
            if check is not None:
                check()
            close = getattr(connector, "close", None)
            if close is not None:
                close()
            report.checks.append({"check": "connect", "resource": name, "ok": True})
        except Exception as exc:  # noqa: BLE001 - connector (plugin) code boundary: reported
            report.checks.append({"check": "connect", "resource": name, "ok": False})
            report.errors.append(f"resource {name}: cannot connect: {type(exc).__name__}: {exc}")


def run_doctor(args: argparse.Namespace) -> int:
    """Run the checks; exit 0 when nothing is missing, 2 otherwise."""
    path = flow_path(args)
    runtime = bootstrap()
    report = DoctorReport(flow_yaml=path)
    report.checks.append(
        {
            "check": "secrets_hook",
            "configured": runtime.secrets is not None,
            "loaded": runtime.secrets is not None,
        }
    )
    for directory in runtime.settings.plugin_paths:
        exists = Path(directory).is_dir()
        report.checks.append({"check": "plugin_path", "path": directory, "exists": exists})
        if not exists and not runtime.settings.enterprise:
            report.errors.append(f"plugin path {directory} does not exist")
    flow = _load(path, runtime, report)
    if flow is not None:
        report.missing_env = missing_env(
            flow,
            load_profiles_for(report, _profile_env(runtime)),
            runtime.env,
        )
        check_state_location(Path(state_location(flow, runtime.settings)), report)
        check_connector_libraries(flow, runtime.registry, report)
        if args.connect and not report.missing_env:
            _connect(flow, runtime, report)
    _print_doctor(report, args.json)
    return 0 if report.ok else 2


def _print_doctor(report: DoctorReport, as_json: bool) -> None:
    if as_json:
        print_json(report.as_dict())
        return
    print(f"{'OK' if report.ok else 'PROBLEMS'}: {report.flow_yaml}")
    for need in report.missing_env:
        print(f"- {need.line()}")
    for error in report.errors:
        print(f"- {error}")
    for warning in report.warnings:
        print(f"! {warning}")


def run_explain(args: argparse.Namespace) -> int:
    """Print where each resource value comes from (secrets masked)."""
    path = flow_path(args)
    runtime = bootstrap()
    report = DoctorReport(flow_yaml=path)
    flow = _load(path, runtime, report)
    if flow is None:
        for error in report.errors:
            print(f"- {error}")
        return 2
    redactor = Redactor()
    redactor.add_env(runtime.env, runtime.settings.secret_env_patterns)
    profiles = load_profiles_for(report, _profile_env(runtime))
    resources = {
        name: explain_resource(name, resource, profiles, runtime.env, redactor)
        for name, resource in flow.resources.items()
    }
    if args.json:
        print_json(
            {"flow_yaml": path, "profiles_source": profiles.source or None, "resources": resources}
        )
        return 0
    print(f"Flow: {path}")
    for name, info in resources.items():
        print(
            f"Resource: {name} ({info['kind']}/{info['driver']}) profile={info['profile'] or '-'}"
        )
        for section in ("config", "options"):
            for key, entry in info[section].items():
                print(f"  {section}.{key} = {_shown(entry)}")
    return 0


def _shown(entry: dict[str, Any]) -> str:
    notes = [entry["source"]]
    if entry["env"]:
        notes.append("env " + ",".join(entry["env"]))
    if entry["decoded"]:
        notes.append("decoded")
    return f"{entry['value']}  [{'; '.join(notes)}]"
