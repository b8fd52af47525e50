"""``validate``: every check, precise positions, all problems at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.errors import DECODE_TARGET_MESSAGE, TEMPLATE_SYNTAX_MESSAGE
from aetherflow.runner.validation import ValidationReport
from aetherflow.runtime.registry import Registry

Validate = Callable[..., ValidationReport]

TEN_MISTAKES = """
version: 1
flow:
  id: ten
  workspce: {}
  on_failure: sometimes
jobs:
  - id: extract
    depend_on: [load]
    steps:
      - id: probe
        type: check_itemz
        inputs: {items: "${ITEMS}"}
      - id: probe
        type: check_items
        inputs: {items: [1], min_count: "{{steps.later.count}}"}
        on_no_date: skip_job
  - id: load
    depends_on: [extract, transform]
    when: "jobs.extract.outputs.count >"
    steps: []
"""


def codes(report: object) -> list[tuple[str, str]]:
    """``(code, loc)`` of every error."""
    return [(i.code, i.loc) for i in report.errors]  # type: ignore[attr-defined]


def test_ten_mistakes_are_all_reported_with_their_lines(validate: Validate) -> None:
    report = validate(TEN_MISTAKES)
    found = [(i.line, i.code, i.loc) for i in report.errors]
    assert found == [
        (4, "schema:extra_forbidden", "flow.workspce"),
        (5, "schema:enum", "flow.on_failure"),
        (8, "schema:extra_forbidden", "jobs[0].depend_on"),
        (11, "semantic:unknown_step_type", "jobs[0].steps[0].type"),
        (12, "template:syntax", "jobs[0].steps[0].inputs.items"),
        (13, "semantic:duplicate_step_id", "jobs[0].steps[1].id"),
        (15, "template:unknown_step", "jobs[0].steps[1].inputs.min_count"),
        (16, "schema:extra_forbidden", "jobs[0].steps[1].on_no_date"),
        (18, "semantic:depends_on_unknown_job", "jobs[1].depends_on[1]"),
        (19, "semantic:invalid_when", "jobs[1].when"),
    ]
    assert all(i.file == "flow.yaml" for i in report.errors)
    assert not report.ok
    assert report.flow is None


@pytest.mark.parametrize(
    ("typo", "line", "expected"),
    [
        ("depend_on", "jobs:\n  - id: a\n    depend_on: []\n    steps: []\n", "depends_on"),
        (
            "input",
            "jobs:\n  - id: a\n    steps:\n      - {id: s, type: check_items, input: {}}\n",
            "inputs",
        ),
        (
            "on_no_date",
            "jobs:\n  - id: a\n    steps:\n      - id: s\n        type: check_items\n"
            "        inputs: {items: [1]}\n        on_no_date: skip_job\n",
            "on_no_data",
        ),
        ("workspce", "jobs: []\n", "workspace"),
    ],
)
def test_predecessor_typos_are_errors_with_a_hint(
    validate: Validate, typo: str, line: str, expected: str
) -> None:
    flow_block = "flow:\n  id: f\n" + ("  workspce: {}\n" if typo == "workspce" else "")
    report = validate(flow_block + line)
    typo_issues = [i for i in report.errors if i.loc.endswith(typo)]
    assert len(typo_issues) == 1
    issue = typo_issues[0]
    assert issue.code == "schema:extra_forbidden"
    assert issue.hint == f"did you mean {expected!r}?"
    assert issue.line > 0


def test_valid_flow_passes_and_returns_the_model(validate: Validate) -> None:
    report = validate(
        """
        flow: {id: ok}
        jobs:
          - id: a
            steps:
              - id: s
                type: check_items
                inputs: {items: [1, 2], min_count: 2}
                outputs: {n: "{{result.count}}"}
          - id: b
            depends_on: [a]
            when: jobs.a.outputs.n >= 2
            steps:
              - id: t
                type: check_items
                inputs: {items: "{{jobs.a.outputs.n}}", min_count: "{{env.MIN:1}}"}
        """
    )
    assert report.errors == []
    assert report.ok
    assert report.flow is not None
    assert [j.id for j in report.flow.jobs] == ["a", "b"]


def test_duplicate_job_id(validate: Validate) -> None:
    report = validate("flow: {id: f}\njobs:\n  - {id: a, steps: []}\n  - {id: a, steps: []}\n")
    assert codes(report) == [("semantic:duplicate_job_id", "jobs[1].id")]
    assert report.errors[0].line == 4


def test_depends_on_order_and_self(validate: Validate) -> None:
    report = validate(
        "flow: {id: f}\njobs:\n"
        "  - {id: a, depends_on: [b], steps: []}\n"
        "  - {id: b, depends_on: [b], steps: []}\n"
    )
    assert codes(report) == [
        ("semantic:depends_on_order", "jobs[0].depends_on[0]"),
        ("semantic:depends_on_order", "jobs[1].depends_on[0]"),
    ]


def test_unknown_dependency_gets_a_did_you_mean(validate: Validate) -> None:
    report = validate(
        "flow: {id: f}\njobs:\n  - {id: extract, steps: []}\n"
        "  - {id: b, depends_on: [extrct], steps: []}\n"
    )
    assert report.errors[0].code == "semantic:depends_on_unknown_job"
    assert report.errors[0].hint == "did you mean 'extract'?"


@pytest.mark.parametrize(
    ("when", "code"),
    [
        ("(1 + 1)", "semantic:invalid_when"),
        ("jobs.nope.status == 'SUCCESS'", "semantic:invalid_when"),
        ("jobs.b.status == 'SUCCESS'", "semantic:when_job_order"),
        ("jobs.a.outputs.x ==", "semantic:invalid_when"),
    ],
)
def test_when_checks(validate: Validate, when: str, code: str) -> None:
    report = validate(
        f'flow: {{id: f}}\njobs:\n  - {{id: a, steps: []}}\n  - id: b\n    when: "{when}"\n'
        "    steps: []\n"
    )
    assert codes(report) == [(code, "jobs[1].when")]
    assert report.errors[0].line == 5


@pytest.mark.parametrize("when", ["true", "TRUE", "jobs.a.status == 'SUCCESS'", "false"])
def test_valid_when_forms(validate: Validate, when: str) -> None:
    report = validate(
        "flow: {id: f}\njobs:\n  - {id: a, steps: []}\n"
        f'  - {{id: b, when: "{when}", steps: []}}\n'
    )
    assert report.errors == []


def test_yaml_boolean_when_is_accepted(validate: Validate) -> None:
    assert validate("flow: {id: f}\njobs:\n  - {id: a, when: true, steps: []}\n").ok


def test_template_errors_are_all_reported_in_one_section(validate: Validate) -> None:
    report = validate(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - id: s
                type: check_items
                inputs:
                  items: [1]
                  a: "{{ broken "
                  b: "{{ nope.x }}"
                  c: "{{ env.MISSING_ONE }}"
                  d: "{% raw %}"
        """
    )
    found = {(i.code, i.loc) for i in report.errors}
    assert ("template:syntax", "jobs[0].steps[0].inputs.a") in found
    assert ("template:unknown_root", "jobs[0].steps[0].inputs.b") in found
    assert ("template:syntax", "jobs[0].steps[0].inputs.d") in found
    assert [(w.code, w.loc) for w in report.warnings] == [
        ("semantic:missing_env", "jobs[0].steps[0].inputs.c")
    ]
    syntax = [i for i in report.errors if i.code == "template:syntax"]
    assert all(i.msg.startswith(TEMPLATE_SYNTAX_MESSAGE + "\n") for i in syntax)
    unknown_root = [i for i in report.errors if i.code == "template:unknown_root"]
    assert len(unknown_root) == 1  # not also reported as template:syntax (gap G16)


def test_missing_env_is_a_warning_unless_strict(validate: Validate) -> None:
    text = "flow:\n  id: f\n  description: '{{ env.broken }}'\njobs: []\n"
    lenient = validate(text)
    assert lenient.ok
    assert [(w.code, w.loc, w.line) for w in lenient.warnings] == [
        ("semantic:missing_env", "flow.description", 3)
    ]
    strict = validate(text, strict=True)
    assert [(e.code, e.severity) for e in strict.errors] == [("semantic:missing_env", "error")]
    assert validate(text, env={"broken": "x"}).warnings == []


def test_empty_env_value_counts_as_missing(validate: Validate) -> None:
    report = validate("flow:\n  id: f\n  description: '{{env.E}}'\njobs: []\n", env={"E": ""})
    assert [w.code for w in report.warnings] == ["semantic:missing_env"]


def test_templated_integer_in_flow_block_is_rendered_then_checked(validate: Validate) -> None:
    text = "flow:\n  id: f\n  locks: {ttl_seconds: '{{env.TTL}}'}\njobs: []\n"
    assert validate(text, env={"TTL": "120"}).ok
    bad = validate(text, env={"TTL": "soon"})
    assert [(e.code, e.loc, e.line) for e in bad.errors] == [
        ("schema:float_parsing", "flow.locks.ttl_seconds", 3)
    ]


def test_templated_enum_in_flow_block_is_rendered(validate: Validate) -> None:
    text = "flow:\n  id: f\n  on_failure: '{{env.POLICY:continue}}'\njobs: []\n"
    report = validate(text)
    assert report.ok
    assert report.flow is not None
    assert report.flow.flow.on_failure.value == "continue"


def test_step_and_job_references_must_come_earlier(validate: Validate) -> None:
    report = validate(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - id: first
                type: check_items
                inputs: {items: "{{steps.second.x}}"}
              - id: second
                type: check_items
                inputs: {items: "{{steps.first.count}} {{jobs.b.outputs.x}}"}
          - id: b
            steps: []
        """
    )
    assert codes(report) == [
        ("template:unknown_step", "jobs[0].steps[0].inputs.items"),
        ("template:unknown_job", "jobs[0].steps[1].inputs.items"),
    ]
    assert "does not run before this point" in report.errors[0].msg


def test_result_only_in_outputs(validate: Validate) -> None:
    report = validate(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n      - id: s\n        type: check_items\n"
        "        inputs: {items: '{{result.x}}'}\n        outputs: {n: '{{result.count}}'}\n"
    )
    assert codes(report) == [("template:result_in_inputs", "jobs[0].steps[0].inputs.items")]


def test_invalid_template_paths(validate: Validate) -> None:
    report = validate(
        "flow: {id: f}\njobs:\n  - {id: z, steps: []}\n  - id: a\n    steps:\n      - id: s\n"
        "        type: check_items\n"
        "        inputs: {items: '{{run_id.x}} {{jobs.z.foo}} {{job.name}} {{env.A.B:1}}'}\n"
    )
    assert [i.code for i in report.errors] == ["template:invalid_path"] * 4


def test_step_inputs_checked_against_the_inputs_model(validate: Validate) -> None:
    report = validate(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - id: s
                type: check_items
                inputs: {items: [1], min_count: many, comand: x}
              - id: t
                type: check_items
                inputs: {min_count: 1}
              - id: templated
                type: check_items
                inputs: {items: "{{steps.s.count}}", min_count: "{{steps.s.count}}"}
        """
    )
    found = [(i.code, i.loc) for i in report.errors]
    assert found == [
        ("step:invalid_inputs", "jobs[0].steps[0].inputs.min_count"),
        ("step:invalid_inputs", "jobs[0].steps[0].inputs.comand"),
        ("step:invalid_inputs", "jobs[0].steps[1].inputs.items"),
    ]
    assert report.errors[1].hint == "allowed keys: items, min_count"
    assert report.errors[2].line == 10


def test_plugin_step_without_inputs_model_checks_required_inputs(
    validate: Validate, registry: Registry
) -> None:
    class Legacy:
        required_inputs = {"path"}  # noqa: RUF012

    registry.add_step("legacy_step", Legacy, origin="test")
    report = validate(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: legacy_step, inputs: {other: 1}}\n"
    )
    assert [(i.code, i.msg) for i in report.errors] == [
        ("step:invalid_inputs", "missing required input 'path' for step type Legacy")
    ]


def test_unknown_step_type_gets_a_hint(validate: Validate) -> None:
    report = validate(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n      - {id: s, type: check_item}\n"
    )
    assert codes(report) == [("semantic:unknown_step_type", "jobs[0].steps[0].type")]
    assert report.errors[0].hint == "did you mean 'check_items'?"


def test_unknown_resource_reference(validate: Validate) -> None:
    report = validate(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: check_items, inputs: {items: [1], resource: wh}}\n"
    )
    assert ("semantic:unknown_resource", "jobs[0].steps[0].inputs.resource") in codes(report)


class _Conn:
    pass


def test_unknown_connector(validate: Validate, registry: Registry) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    report = validate(
        "flow: {id: f}\nresources:\n  wh: {kind: db, driver: fak}\n  ok: {kind: db, driver: fake}\n"
        "jobs: []\n"
    )
    assert codes(report) == [("semantic:unknown_connector", "resources.wh.driver")]
    assert report.errors[0].hint == "did you mean 'db:fake'?"
    assert report.errors[0].line == 3


def test_resource_templates_allow_env_only(validate: Validate, registry: Registry) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    report = validate(
        "flow: {id: f}\nresources:\n  wh:\n    kind: db\n    driver: fake\n"
        "    config: {dsn: '{{steps.a.x}}', host: '{{env.DB_HOST}}'}\njobs: []\n"
    )
    assert codes(report) == [("template:unknown_root", "resources.wh.config.dsn")]
    assert [w.loc for w in report.warnings] == ["resources.wh.config.host"]


def test_legacy_env_keys_are_rejected(validate: Validate, registry: Registry) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    for legacy in ("config_env", "options_env", "decode_env"):
        report = validate(
            f"flow: {{id: f}}\nresources:\n  wh: {{kind: db, driver: fake, {legacy}: {{}}}}\n"
            "jobs: []\n"
        )
        assert codes(report) == [("schema:extra_forbidden", f"resources.wh.{legacy}")]


def test_decode_target_must_be_a_standalone_token(validate: Validate, registry: Registry) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    report = validate(
        "flow: {id: f}\nresources:\n  wh:\n    kind: db\n    driver: fake\n"
        "    config: {password: 'x{{env.PW}}', user: '{{env.USER}}'}\n"
        "    decode: {config: {password: true, user: true}}\njobs: []\n",
        env={"PW": "a", "USER": "b"},
        secrets=True,
    )
    assert [(e.code, e.loc, e.msg) for e in report.errors] == [
        (
            "semantic:decode_target_not_standalone",
            "resources.wh.config.password",
            DECODE_TARGET_MESSAGE,
        )
    ]


def test_decode_without_secrets_hook_is_an_error(validate: Validate, registry: Registry) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    text = (
        "flow: {id: f}\nresources:\n  wh:\n    kind: db\n    driver: fake\n"
        "    config: {password: '{{env.PW}}'}\n    decode: {config_paths: [password]}\njobs: []\n"
    )
    report = validate(text, env={"PW": "x"})
    assert codes(report) == [("semantic:decode_without_hook", "resources.wh.decode")]
    assert validate(text, env={"PW": "x"}, secrets=True).ok


def test_unknown_profile_name_gets_a_hint(
    validate: Validate, registry: Registry, tmp_path: Path
) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("prod:\n  config: {dsn: x}\n")
    text = (
        "flow: {id: f}\nresources:\n  wh: {kind: db, driver: fake, profile: prd}\n"
        "  ok: {kind: db, driver: fake, profile: prod}\njobs: []\n"
    )
    report = validate(text, env={"AETHERFLOW_PROFILES_FILE": str(profiles)})
    assert [(e.code, e.loc, e.file, e.line) for e in report.errors] == [
        ("semantic:unknown_profile", "resources.wh.profile", "flow.yaml", 3),
    ]
    assert report.errors[0].hint == "did you mean 'prod'?"


def test_invalid_profiles_file_is_reported_in_that_file(
    validate: Validate, registry: Registry, tmp_path: Path
) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("prod:\n  config:\n    dsn: x\n  confg: {}\n")
    text = "flow: {id: f}\nresources:\n  wh: {kind: db, driver: fake, profile: prod}\njobs: []\n"
    report = validate(text, env={"AETHERFLOW_PROFILES_FILE": str(profiles)})
    assert [(e.code, e.loc, e.file, e.line) for e in report.errors] == [
        ("schema:extra_forbidden", "prod.confg", str(profiles), 4),
    ]
    assert report.errors[0].hint == "did you mean 'config'?"


def test_profile_templates_are_checked_with_the_profiles_file_position(
    validate: Validate, registry: Registry, tmp_path: Path
) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("prod:\n  config:\n    dsn: '{{env.PROD_DSN}}'\n")
    report = validate(
        "flow: {id: f}\nresources:\n  wh: {kind: db, driver: fake, profile: prod}\njobs: []\n",
        env={"AETHERFLOW_PROFILES_FILE": str(profiles)},
    )
    assert [(w.code, w.loc, w.file, w.line) for w in report.warnings] == [
        ("semantic:missing_env", "profiles.prod.config.dsn", str(profiles), 3)
    ]


def test_profile_without_profiles_source(validate: Validate, registry: Registry) -> None:
    registry.add_connector("db", "fake", _Conn, origin="test")
    report = validate(
        "flow: {id: f}\nresources:\n  wh: {kind: db, driver: fake, profile: prod}\njobs: []\n"
    )
    assert codes(report) == [("semantic:unknown_profile", "resources.wh.profile")]
    assert "AETHERFLOW_PROFILES_FILE" in (report.errors[0].hint or "")


def test_both_profiles_sources_is_an_error(validate: Validate) -> None:
    report = validate(
        "flow: {id: f}\njobs: []\n",
        env={"AETHERFLOW_PROFILES_FILE": "p.yaml", "AETHERFLOW_PROFILES_JSON": "{}"},
    )
    assert [e.code for e in report.errors] == ["semantic:profiles_source_conflict"]


def test_missing_profiles_file_is_an_error(validate: Validate, tmp_path: Path) -> None:
    missing = f"{tmp_path}/nope.yaml"
    report = validate("flow: {id: f}\njobs: []\n", env={"AETHERFLOW_PROFILES_FILE": missing})
    assert [(e.code, e.file) for e in report.errors] == [("file:not_found", missing)]


def test_yaml_duplicate_keys_and_syntax(validate: Validate) -> None:
    dup = validate("flow: {id: f}\njobs: []\njobs: []\n")
    assert [(e.code, e.line) for e in dup.errors] == [("yaml:duplicate_key", 3)]
    broken = validate("flow: {id: f\njobs: []\n")
    assert [e.code for e in broken.errors] == ["yaml:syntax"]
    assert broken.errors[0].line > 0


def test_only_version_1(validate: Validate) -> None:
    report = validate("version: 2\nflow: {id: f}\njobs: []\n")
    assert codes(report) == [("schema:literal_error", "version")]


def test_document_must_be_a_mapping(validate: Validate) -> None:
    report = validate("- a\n- b\n")
    assert [e.code for e in report.errors] == ["schema:document_type"]


@pytest.mark.parametrize("bad_id", ["a/b", "..", "has space", "x:y"])
def test_ids_are_path_safe(validate: Validate, bad_id: str) -> None:
    report = validate(f"flow: {{id: '{bad_id}'}}\njobs: []\n")
    assert codes(report) == [("schema:value_error", "flow.id")]


def test_report_json_shape(validate: Validate) -> None:
    report = validate("flow: {id: f}\njobs:\n  - {id: a, steps: [], depend_on: []}\n")
    data = report.as_dict()
    assert set(data) == {"ok", "flow_yaml", "errors", "warnings"}
    assert data["ok"] is False
    assert data["flow_yaml"] == "flow.yaml"
    assert set(data["errors"][0]) >= {"code", "loc", "line", "col", "msg", "hint"}
    assert data["errors"][0]["line"] == 3


def test_bundle_dir_keys_are_injected_like_at_run_time(validate: Validate) -> None:
    text = (
        "flow:\n  id: f\n  workspace: {root: '{{env.ROOT:/srv/work}}'}\n"
        "  description: '{{env.AETHERFLOW_ACTIVE_DIR}}'\njobs: []\n"
    )
    report = validate(text, strict=True)
    assert report.ok
    assert report.flow is not None
    assert report.flow.flow.description == "/srv/work"


def test_with_lock_inner_step_is_validated(validate: Validate) -> None:
    report = validate(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - id: publish
                type: with_lock
                inputs:
                  lock_key: "publish:{{flow_id}}"
                  ttl_seconds: 60
                  step: {type: check_itemz, inputs: {items: [1]}}
              - id: other
                type: with_lock
                inputs:
                  lock_key: k
                  step: {type: check_items, inputs: {itms: [1]}}
              - id: missing
                type: with_lock
                inputs: {lock_key: k}
        """
    )
    assert codes(report) == [
        ("semantic:unknown_step_type", "jobs[0].steps[0].inputs.step.type"),
        ("step:invalid_inputs", "jobs[0].steps[1].inputs.step.inputs.items"),
        ("step:invalid_inputs", "jobs[0].steps[1].inputs.step.inputs.itms"),
        ("step:invalid_inputs", "jobs[0].steps[2].inputs.step"),
    ]
    assert report.errors[0].hint == "did you mean 'check_items'?"
