"""The path sandbox and the redactor."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from aetherflow.runtime.redact import MASK, Redactor, encoded_forms, is_secret_name
from aetherflow.runtime.sandbox import Sandbox, SandboxError


@pytest.fixture
def job(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "work"
    artifacts = root / "flow" / "job" / "run" / "artifacts"
    artifacts.mkdir(parents=True)
    return root, artifacts


def test_relative_paths_resolve_under_artifacts(job: tuple[Path, Path]) -> None:
    root, artifacts = job
    box = Sandbox.for_job(artifacts, root, enterprise=False, strict=True)
    assert box.resolve("out/x.csv", key="output") == artifacts / "out" / "x.csv"
    assert box.resolve(str(root / "shared.txt"), key="output") == root / "shared.txt"


@pytest.mark.parametrize(
    "bad", ["/etc/passwd", "../../../../../etc/passwd", "a/../../../../../../x"]
)
def test_escapes_are_refused_with_the_input_key(job: tuple[Path, Path], bad: str) -> None:
    root, artifacts = job
    box = Sandbox.for_job(artifacts, root, enterprise=False, strict=True)
    with pytest.raises(SandboxError, match=r"^input log\.file_path: path .* is outside"):
        box.resolve(bad, key="log.file_path")


def test_symlink_inside_artifacts_pointing_outside_is_refused(job: tuple[Path, Path]) -> None:
    root, artifacts = job
    (artifacts / "etc").symlink_to("/etc")
    box = Sandbox.for_job(artifacts, root, enterprise=False, strict=True)
    with pytest.raises(SandboxError, match=r"input cwd: .* goes through the symlink"):
        box.resolve("etc/hostname", key="cwd")
    with pytest.raises(SandboxError, match="input cwd"):
        box.resolve("etc", key="cwd")


def test_symlink_inside_the_roots_is_fine(job: tuple[Path, Path]) -> None:
    root, artifacts = job
    (artifacts / "real").mkdir()
    (artifacts / "alias").symlink_to(artifacts / "real")
    box = Sandbox.for_job(artifacts, root, enterprise=False, strict=True)
    assert box.resolve("alias/f", key="k") == artifacts / "real" / "f"


def test_enterprise_allows_only_the_artifacts_dir(job: tuple[Path, Path]) -> None:
    root, artifacts = job
    box = Sandbox.for_job(artifacts, root, enterprise=True, strict=False)
    assert box.resolve("ok.txt", key="k") == artifacts / "ok.txt"
    with pytest.raises(SandboxError, match="job's artifacts directory"):
        box.resolve(str(root / "shared.txt"), key="k")


def test_sandbox_can_be_switched_off_outside_enterprise(job: tuple[Path, Path]) -> None:
    root, artifacts = job
    box = Sandbox.for_job(artifacts, root, enterprise=False, strict=False)
    assert box.resolve("/etc/hostname", key="k") == Path("/etc/hostname")


SECRET = "s3cr3t/pa ss+wörd"


def test_every_form_of_a_secret_is_redacted() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    forms = [
        SECRET,
        base64.b64encode(SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode(),
        quote(SECRET, safe=""),
        quote_plus(SECRET, safe=""),
        json.dumps(SECRET)[1:-1],
    ]
    for form in forms:
        assert redactor.redact(f"before {form} after") == f"before {MASK} after", form
    assert encoded_forms(SECRET) >= set(forms)


def test_short_values_are_not_registered() -> None:
    redactor = Redactor()
    redactor.add("abc")
    assert not redactor
    assert redactor.redact("abc abc") == "abc abc"


def test_env_patterns_and_secret_fields() -> None:
    redactor = Redactor()
    redactor.add_env(
        {
            "DB_PASSWORD": "hunter22",
            "API_TOKEN": "tok-123456",
            "HOME": "/home/user",
            "SSH_KEY": "k3y-value",
        },
        ["*PASSWORD*", "*TOKEN*", "*_KEY"],
    )
    redactor.add_secret_fields({"config": {"password": "pw-98765", "host": "db"}})
    text = "hunter22 tok-123456 /home/user k3y-value pw-98765 db"
    assert redactor.redact(text) == "*** *** /home/user *** *** db"
    assert redactor.redact_value({"hunter22": ["x hunter22"], "n": 1}) == {MASK: ["x ***"], "n": 1}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("db_passwd", True),
        ("api_key", True),
        ("client_secret", True),
        ("host", False),
        ("keyspace", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret
