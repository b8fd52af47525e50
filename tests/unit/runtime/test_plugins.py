"""Unit tests for ``aetherflow.runtime.plugins`` (plugin directories and entry points)."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import logging
import re
import sys
import textwrap
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from aetherflow.errors import PluginError
from aetherflow.runtime import plugins
from aetherflow.runtime.plugins import (
    LoadedPlugin,
    load_entry_points,
    load_plugin_dirs,
    plugin_files,
)
from aetherflow.runtime.registry import Registry

pytestmark = pytest.mark.usefixtures("plugin_sandbox")

WritePlugin = Callable[..., Path]


def step_plugin(step: str, counter: Path | None = None, extra: str = "") -> str:
    """Source of a plugin registering step type ``step`` (and counting its executions)."""
    count = (
        f"with open({str(counter)!r}, 'a', encoding='utf-8') as fh:\n    fh.write('x')\n"
        if counter
        else ""
    )
    return (
        "from aetherflow.runtime.registry import register_step\n"
        f"{extra}\n"
        f"{count}"
        f"@register_step({step!r})\n"
        "class Plugged:\n"
        "    pass\n"
    )


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    directory = (tmp_path / "plugins").resolve()
    directory.mkdir()
    return directory


@pytest.fixture
def write_plugin(plugin_dir: Path) -> WritePlugin:
    def write(relative: str, source: str) -> Path:
        path = plugin_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    return write


# --- plugin directories -----------------------------------------------------------------------


def test_two_files_register_steps_with_path_origin(
    plugin_dir: Path, write_plugin: WritePlugin, plugin_sandbox: Registry
) -> None:
    first = write_plugin("a_steps.py", step_plugin("alpha"))
    second = write_plugin("b_steps.py", step_plugin("beta"))
    loaded = load_plugin_dirs([plugin_dir], strict=True)
    assert [p.name for p in loaded] == [str(first), str(second)]
    assert plugin_sandbox.steps["alpha"].origin == f"path:{first}"
    assert plugin_sandbox.steps["beta"].origin == f"path:{second}"


def test_loaded_plugin_record(plugin_dir: Path, write_plugin: WritePlugin) -> None:
    path = write_plugin("rec.py", step_plugin("rec"))
    [plugin] = load_plugin_dirs([str(plugin_dir)], strict=True)
    assert plugin.source == "path"
    assert plugin.name == str(path)
    assert plugin.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert re.fullmatch(r"aetherflow_plugin_[0-9a-f]{12}_rec", plugin.module)
    assert sys.modules[plugin.module].__file__ == str(path)


def test_underscore_files_and_hidden_dirs_are_skipped(
    plugin_dir: Path, write_plugin: WritePlugin
) -> None:
    write_plugin("_private.py", "raise RuntimeError('must not load')\n")
    write_plugin("__init__.py", "raise RuntimeError('must not load')\n")
    write_plugin(".hidden/secret.py", "raise RuntimeError('must not load')\n")
    write_plugin("pkg/.cache/deep.py", "raise RuntimeError('must not load')\n")
    write_plugin("notes.txt", "not python")
    kept = write_plugin("pkg/sub/nested.py", step_plugin("nested"))
    top = write_plugin("top.py", step_plugin("top"))
    assert plugin_files(plugin_dir) == [kept, top]
    assert [p.name for p in load_plugin_dirs([plugin_dir], strict=True)] == [str(kept), str(top)]


def test_loading_twice_executes_once(
    plugin_dir: Path, write_plugin: WritePlugin, tmp_path: Path
) -> None:
    counter = tmp_path / "count.txt"
    write_plugin("once.py", step_plugin("once", counter))
    first = load_plugin_dirs([plugin_dir], strict=True)
    second = load_plugin_dirs([plugin_dir], strict=True)
    assert counter.read_text(encoding="utf-8") == "x"
    assert second == first


def test_same_directory_listed_twice_executes_once(
    plugin_dir: Path, write_plugin: WritePlugin, tmp_path: Path
) -> None:
    counter = tmp_path / "count.txt"
    write_plugin("once.py", step_plugin("once", counter))
    loaded = load_plugin_dirs([plugin_dir, str(plugin_dir) + "/"], strict=True)
    assert counter.read_text(encoding="utf-8") == "x"
    assert len(loaded) == 2
    assert loaded[0] is loaded[1]


def test_plugin_named_json_does_not_shadow_stdlib(
    plugin_dir: Path, write_plugin: WritePlugin, plugin_sandbox: Registry
) -> None:
    stdlib_json = sys.modules["json"]
    write_plugin("json.py", step_plugin("json_step", extra="dumps = None"))
    load_plugin_dirs([plugin_dir], strict=True)
    assert sys.modules["json"] is stdlib_json
    assert json.dumps({"a": 1}) == '{"a": 1}'
    assert "json_step" in plugin_sandbox.steps
    spec = importlib.machinery.PathFinder.find_spec("json", sys.path)
    assert spec is not None
    assert spec.origin != str(plugin_dir / "json.py")


def test_directory_is_appended_to_sys_path(plugin_dir: Path, write_plugin: WritePlugin) -> None:
    write_plugin("p.py", step_plugin("p"))
    before = list(sys.path)
    load_plugin_dirs([plugin_dir], strict=True)
    assert sys.path == [*before, str(plugin_dir)]


def test_directory_is_not_appended_twice(plugin_dir: Path, write_plugin: WritePlugin) -> None:
    write_plugin("p.py", step_plugin("p"))
    load_plugin_dirs([plugin_dir], strict=True)
    load_plugin_dirs([plugin_dir], strict=True)
    assert sys.path.count(str(plugin_dir)) == 1


def test_plugin_can_import_its_own_helper_module(
    plugin_dir: Path, write_plugin: WritePlugin, plugin_sandbox: Registry
) -> None:
    write_plugin("_af_helper_mod.py", "STEP_NAME = 'from_helper'\n")
    write_plugin(
        "uses_helper.py",
        """\
        from _af_helper_mod import STEP_NAME
        from aetherflow.runtime.registry import register_step

        register_step(STEP_NAME)(type("Helped", (), {}))
        """,
    )
    load_plugin_dirs([plugin_dir], strict=True)
    assert "from_helper" in plugin_sandbox.steps


def test_failing_plugin_strict_raises_plugin_error(
    plugin_dir: Path, write_plugin: WritePlugin
) -> None:
    path = write_plugin("bad.py", "raise ValueError('boom')\n")
    with pytest.raises(PluginError) as info:
        load_plugin_dirs([plugin_dir], strict=True)
    assert str(info.value) == f"plugin file {path} failed to load: ValueError: boom"
    assert isinstance(info.value.__cause__, ValueError)
    assert not any(name.endswith("_bad") for name in sys.modules)
    assert path not in plugins._loaded_files


def test_failing_plugin_non_strict_logs_and_continues(
    plugin_dir: Path,
    write_plugin: WritePlugin,
    caplog: pytest.LogCaptureFixture,
    plugin_sandbox: Registry,
) -> None:
    bad = write_plugin("a_bad.py", "raise ValueError('boom')\n")
    good = write_plugin("b_good.py", step_plugin("good"))
    with caplog.at_level(logging.WARNING, logger="aetherflow.runtime.plugins"):
        loaded = load_plugin_dirs([plugin_dir], strict=False)
    assert [p.name for p in loaded] == [str(good)]
    assert "good" in plugin_sandbox.steps
    assert [r.getMessage() for r in caplog.records] == [
        f"plugin file {bad} failed to load: ValueError: boom "
        "(AETHERFLOW_PLUGIN_STRICT=false: skipped)"
    ]
    assert caplog.records[0].levelno == logging.WARNING


def test_plugin_syntax_error_strict(plugin_dir: Path, write_plugin: WritePlugin) -> None:
    write_plugin("broken.py", "def (:\n")
    with pytest.raises(PluginError, match="failed to load: SyntaxError"):
        load_plugin_dirs([plugin_dir], strict=True)


def test_plugin_registering_duplicate_step_strict(
    plugin_dir: Path, write_plugin: WritePlugin
) -> None:
    first = write_plugin("a.py", step_plugin("same"))
    write_plugin("b.py", step_plugin("same"))
    with pytest.raises(PluginError, match=f"RegistryError: .*from path:{re.escape(str(first))}"):
        load_plugin_dirs([plugin_dir], strict=True)


def test_missing_directory_strict_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(PluginError) as info:
        load_plugin_dirs([missing], strict=True)
    assert str(info.value) == f"plugin directory {missing} does not exist or is not a directory"


def test_missing_directory_non_strict_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nope"
    before = list(sys.path)
    with caplog.at_level(logging.WARNING, logger="aetherflow.runtime.plugins"):
        assert load_plugin_dirs([missing], strict=False) == []
    assert [r.getMessage() for r in caplog.records] == [
        f"plugin directory {missing} does not exist or is not a directory "
        "(AETHERFLOW_PLUGIN_STRICT=false: skipped)"
    ]
    assert sys.path == before


def test_file_instead_of_directory_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "plugin.py"
    path.write_text("", encoding="utf-8")
    with pytest.raises(PluginError, match="is not a directory"):
        load_plugin_dirs([path], strict=True)


# --- entry points -----------------------------------------------------------------------------
# No installed distribution declares ``aetherflow.plugins`` entry points here, so these tests
# replace the discovery function with one returning real EntryPoint objects that import a
# temporary module; loading, calling and registration are the real code paths.


@pytest.fixture
def entry_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"af_ep_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """\
            from aetherflow.runtime.registry import register_step

            def hook():
                register_step("ep_callable")(type("A", (), {}))

            def register():
                register_step("ep_module")(type("B", (), {}))

            def broken():
                raise RuntimeError("ep boom")
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def use_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: EntryPoint) -> None:
    def fake(*, group: str) -> list[EntryPoint]:
        assert group == "aetherflow.plugins"
        return list(eps)

    monkeypatch.setattr(plugins, "entry_points", fake)


def test_entry_point_callable_is_called(
    entry_module: str, monkeypatch: pytest.MonkeyPatch, plugin_sandbox: Registry
) -> None:
    use_entry_points(monkeypatch, EntryPoint("acme", f"{entry_module}:hook", "aetherflow.plugins"))
    loaded = load_entry_points(strict=True)
    assert loaded == [
        LoadedPlugin(source="entry_point", name="acme", sha256="", module=f"{entry_module}:hook")
    ]
    assert plugin_sandbox.steps["ep_callable"].origin == "entry_point:acme"


def test_entry_point_module_register_is_called(
    entry_module: str, monkeypatch: pytest.MonkeyPatch, plugin_sandbox: Registry
) -> None:
    use_entry_points(monkeypatch, EntryPoint("mod", entry_module, "aetherflow.plugins"))
    load_entry_points(strict=True)
    assert plugin_sandbox.steps["ep_module"].origin == "entry_point:mod"


def test_entry_point_loaded_once(
    entry_module: str, monkeypatch: pytest.MonkeyPatch, plugin_sandbox: Registry
) -> None:
    use_entry_points(monkeypatch, EntryPoint("acme", f"{entry_module}:hook", "aetherflow.plugins"))
    first = load_entry_points(strict=True)
    plugin_sandbox.restore(({}, {}))
    second = load_entry_points(strict=True)
    assert second == first
    assert plugin_sandbox.steps == {}


def test_entry_point_not_allowed_is_skipped(
    entry_module: str, monkeypatch: pytest.MonkeyPatch, plugin_sandbox: Registry
) -> None:
    use_entry_points(
        monkeypatch,
        EntryPoint("acme", f"{entry_module}:hook", "aetherflow.plugins"),
        EntryPoint("mod", entry_module, "aetherflow.plugins"),
    )
    loaded = load_entry_points(strict=True, allowed=["mod"])
    assert [p.name for p in loaded] == ["mod"]
    assert sorted(plugin_sandbox.steps) == ["ep_module"]


def test_entry_point_failure_strict(entry_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_entry_points(monkeypatch, EntryPoint("bad", f"{entry_module}:broken", "aetherflow.plugins"))
    with pytest.raises(PluginError, match=r"^entry point plugin bad failed to load: ep boom$"):
        load_entry_points(strict=True)


def test_entry_point_failure_non_strict(
    entry_module: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    use_entry_points(monkeypatch, EntryPoint("bad", f"{entry_module}:broken", "aetherflow.plugins"))
    with caplog.at_level(logging.WARNING, logger="aetherflow.runtime.plugins"):
        assert load_entry_points(strict=False) == []
    assert [r.getMessage() for r in caplog.records] == [
        "entry point plugin bad failed to load: ep boom (AETHERFLOW_PLUGIN_STRICT=false: skipped)"
    ]
