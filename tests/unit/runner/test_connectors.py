"""Resource resolution and the connector manager (cache scopes), with plugin connectors."""

from __future__ import annotations

from typing import Any

import pytest

from aetherflow.errors import ConfigError, ConnectorError, RegistryError, ResolverSyntaxError
from aetherflow.runner.connector import ConnectorBase, ConnectorInit
from aetherflow.runner.connectors import ConnectorManager, instantiate
from aetherflow.runner.resources import ResourceResolver
from aetherflow.runtime.profiles import Profiles, load_profiles_text
from aetherflow.runtime.registry import Registry
from aetherflow.spec.flow import ResourceSpec


class FakeDb(ConnectorBase):
    created: list[FakeDb] = []  # noqa: RUF012 - test bookkeeping

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.closed = False
        FakeDb.created.append(self)

    def close(self) -> None:
        self.closed = True


class LegacyRest:
    """The predecessor's two-argument constructor form."""

    def __init__(self, config: dict[str, Any], options: dict[str, Any]) -> None:
        self.config = config
        self.options = options


class Exploding(ConnectorBase):
    def __init__(self, init: ConnectorInit) -> None:
        raise TypeError("bad constructor argument")


@pytest.fixture
def registry() -> Registry:
    FakeDb.created.clear()
    reg = Registry()
    reg.add_connector("db", "fake", FakeDb, origin="test")
    reg.add_connector("rest", "legacy", LegacyRest, origin="test")
    reg.add_connector("db", "explode", Exploding, origin="test")
    return reg


def resolver(
    resources: dict[str, dict[str, Any]],
    env: dict[str, str] | None = None,
    profiles: Profiles | None = None,
    **kw: Any,
) -> ResourceResolver:
    specs = {name: ResourceSpec.model_validate(spec) for name, spec in resources.items()}
    return ResourceResolver(specs, profiles=profiles or Profiles(), env=env or {}, **kw)


def test_resources_resolve_lazily_with_profile_and_env(registry: Registry) -> None:
    profiles = load_profiles_text(
        "prod:\n  config: {host: db.prod, port: 5432, opts: {a: 1, b: 2}, list: [1, 2]}\n",
        file="profiles.yaml",
    )
    res = resolver(
        {
            "wh": {
                "kind": "db",
                "driver": "fake",
                "profile": "prod",
                "config": {"user": "{{env.DB_USER}}", "opts": {"b": 3}, "list": [9]},
            },
            "unused": {"kind": "db", "driver": "fake", "config": {"x": "{{env.MISSING}}"}},
        },
        env={"DB_USER": "etl"},
        profiles=profiles,
    )
    wh = res["wh"]
    assert wh.config == {
        "host": "db.prod",
        "port": 5432,
        "user": "etl",
        "opts": {"a": 1, "b": 3},
        "list": [9],
    }
    assert res["wh"] is wh  # resolved once
    assert sorted(res) == ["unused", "wh"]


def test_unknown_resource(registry: Registry) -> None:
    with pytest.raises(KeyError, match="unknown resource 'nope'"):
        resolver({})["nope"]


def test_decode_without_hook_fails_fast() -> None:
    res = resolver(
        {
            "wh": {
                "kind": "db",
                "driver": "fake",
                "config": {"pw": "{{env.PW}}"},
                "decode": {"config": {"pw": True}},
            }
        },
        env={"PW": "enc"},
    )
    with pytest.raises(ConfigError, match="requests decode but no secrets hook is configured"):
        res["wh"]


class Hook:
    def decode(self, value: str) -> str:
        return value.upper()


def test_decode_with_hook_reports_secrets() -> None:
    seen: list[str] = []
    res = resolver(
        {
            "wh": {
                "kind": "db",
                "driver": "fake",
                "config": {"pw": "{{env.PW}}", "user": "u"},
                "decode": {"config_paths": ["pw"]},
            }
        },
        env={"PW": "secret"},
        secrets=Hook(),
        on_secret=seen.append,
    )
    assert res["wh"].config == {"pw": "SECRET", "user": "u"}
    assert seen == ["secret", "SECRET"]  # the encoded value is sensitive too


def test_decode_target_must_be_standalone_at_run_time() -> None:
    res = resolver(
        {
            "wh": {
                "kind": "db",
                "driver": "fake",
                "config": {"pw": "x{{env.PW}}"},
                "decode": {"config": {"pw": True}},
            }
        },
        env={"PW": "s"},
        secrets=Hook(),
    )
    with pytest.raises(ResolverSyntaxError, match="must be a standalone template token"):
        res["wh"]


def manager(registry: Registry, **kw: Any) -> ConnectorManager:
    res = resolver(
        {
            "wh": {"kind": "db", "driver": "fake"},
            "per_call": {"kind": "db", "driver": "fake", "options": {"cache": "none"}},
            "api": {"kind": "rest", "driver": "legacy", "config": {"base_url": "http://x"}},
            "broken": {"kind": "db", "driver": "explode"},
            "ghost": {"kind": "db", "driver": "missing"},
        }
    )
    return ConnectorManager(res, registry, **kw)


def test_run_scope_caches_and_close_all_closes(registry: Registry) -> None:
    mgr = manager(registry)
    first = mgr.db("wh")
    assert mgr["wh"] is first
    assert isinstance(first, FakeDb)
    assert first.config == {}
    mgr.close_all()
    assert first.closed is True
    assert mgr.db("wh") is not first


def test_none_scope_from_resource_options_and_from_disabled_flag(registry: Registry) -> None:
    mgr = manager(registry)
    assert mgr.db("per_call") is not mgr.db("per_call")
    disabled = manager(registry, cache_disabled=True)
    assert disabled.db("wh") is not disabled.db("wh")
    assert mgr.db("wh", cache="none") is not mgr.db("wh")


def test_process_scope_is_shared_across_managers(registry: Registry) -> None:
    one = manager(registry, default_cache="process")
    two = manager(registry, default_cache="process")
    assert one.db("wh") is two.db("wh")
    one.close_all()
    assert one.db("wh").closed is False


def test_kind_mismatch_and_unknown_connector(registry: Registry) -> None:
    mgr = manager(registry)
    with pytest.raises(KeyError, match="resource 'wh' is kind 'db', not 'sftp'"):
        mgr.sftp("wh")
    with pytest.raises(RegistryError, match="unknown connector db:missing"):
        mgr.db("ghost")


def test_constructor_errors_are_not_masked(registry: Registry) -> None:
    with pytest.raises(ConnectorError, match="TypeError: bad constructor argument"):
        manager(registry).db("broken")


def test_predecessor_two_argument_constructor(registry: Registry) -> None:
    api = manager(registry).rest("api")
    assert isinstance(api, LegacyRest)
    assert api.config == {"base_url": "http://x"}
    direct = instantiate(LegacyRest, ConnectorInit("n", "rest", "legacy", {"a": 1}, {"b": 2}))
    assert (direct.config, direct.options) == ({"a": 1}, {"b": 2})


def test_invalid_cache_scope(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="cache must be one of run, process, none"):
        manager(registry).db("wh", cache="forever")


def test_resolved_resources_are_dicts_for_predecessor_plugins() -> None:
    res = resolver({"wh": {"kind": "db", "driver": "fake", "config": {"host": "h"}}})
    resolved = res["wh"]
    assert resolved["config"]["host"] == "h"
    assert dict(resolved) == {
        "name": "wh",
        "kind": "db",
        "driver": "fake",
        "profile": None,
        "config": {"host": "h"},
        "options": {},
    }
    assert resolved.config is resolved["config"]
