"""How the database connectors read their config: URLs, DSNs, pool options, masking."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from aetherflow.connectors import sqlalchemy_db
from aetherflow.connectors.dsn import (
    Masker,
    config_secrets,
    connect_reason,
    dsn_password,
    mask_dsn,
    mask_url,
    parse_url,
    register_with_run,
    strip_driver,
)
from aetherflow.connectors.mysql_db import mysql_params
from aetherflow.connectors.postgres_db import PostgresDB, is_query, postgres_conninfo
from aetherflow.connectors.sqlalchemy_db import normalize_url, pool_options
from aetherflow.connectors.sqlite_db import sqlite_path
from aetherflow.errors import ConfigError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runtime.redact import Redactor


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://etl:s3cret@db:5432/af", "postgresql://etl:***@db:5432/af"),
        (
            "mysql+pymysql://root:p%40ss@h/db?charset=utf8",
            "mysql+pymysql://root:***@h/db?charset=utf8",
        ),
        ("postgresql://db/af", "postgresql://db/af"),
        ("host=db password='a b' user=x", "host=db password=*** user=x"),
        ("host=db password=plain dbname=x", "host=db password=*** dbname=x"),
    ],
)
def test_mask_dsn(url: str, masked: str) -> None:
    assert mask_dsn(url) == masked


def test_mask_url_leaves_urls_without_password() -> None:
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_parse_url_decodes_user_and_password() -> None:
    parts = parse_url("postgresql+psycopg2://etl%40corp:p%40ss%2Fw@db.example:6432/ware%20house")
    assert (parts.scheme, parts.driver) == ("postgresql", "psycopg2")
    assert (parts.user, parts.password) == ("etl@corp", "p@ss/w")
    assert (parts.host, parts.port, parts.database) == ("db.example", 6432, "ware house")
    with pytest.raises(ValueError, match="scheme://"):
        parse_url("db.example:5432")


def test_dsn_password_from_url_and_key_value() -> None:
    assert dsn_password("postgresql://u:p%40ss@h/db") == "p@ss"
    assert dsn_password("host=h password='it\\'s' dbname=x") == "it's"
    assert dsn_password("host=h dbname=x") is None


def test_config_secrets_collects_field_url_and_dsn_passwords() -> None:
    config = {"password": "pw-one", "url": "mysql://u:pw-two@h/db", "dsn": "password=pw-three"}
    assert config_secrets(config) == ["pw-one", "pw-two", "pw-three"]


def test_masker_masks_raw_and_percent_encoded_forms() -> None:
    masker = Masker(["p@ss/word", None, ""])
    text = "failed for p@ss/word (url postgresql://u:p%40ss%2Fword@h) password=x"
    assert masker.mask(text) == "failed for *** (url postgresql://u:***@h) password=***"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            'connection failed: connection to server at "127.0.0.1", port 1 failed: '
            "Connection refused\n\tIs the server running",
            "connection refused",
        ),
        ("(2003, \"Can't connect to MySQL server on 'h' (timed out)\")", "timed out"),
        ('could not translate host name "nope" to address', "unknown host"),
        (
            'connection failed: FATAL:  database "x" does not exist\nmore',
            'FATAL:  database "x" does not exist',
        ),
    ],
)
def test_connect_reason(message: str, reason: str) -> None:
    assert connect_reason(message) == reason


def test_register_with_run_adds_to_the_run_redactor() -> None:
    redactor = Redactor()
    ctx = SimpleNamespace(services=SimpleNamespace(rs=SimpleNamespace(redactor=redactor)))
    register_with_run(ctx, ["url-embedded-pw"])
    assert redactor.redact("x url-embedded-pw y") == "x *** y"
    register_with_run(None, ["ignored"])  # outside a run: nothing to register with


def test_connector_registers_url_password_with_the_run() -> None:
    redactor = Redactor()
    ctx = SimpleNamespace(services=SimpleNamespace(rs=SimpleNamespace(redactor=redactor)))
    init = ConnectorInit("wh", "db", "postgres", {"url": "postgresql://u:Hidden-42@h/db"}, {}, ctx)
    connector = PostgresDB(init)
    assert redactor.redact("Hidden-42") == "***"
    assert "Hidden-42" not in repr(connector)


@pytest.mark.parametrize(
    ("config", "conninfo"),
    [
        ({"url": "postgresql+psycopg2://u:p@h:5433/db"}, "postgresql://u:p@h:5433/db"),
        ({"url": "postgres://u@h/db"}, "postgres://u@h/db"),
        ({"dsn": "host=h dbname=db"}, "host=h dbname=db"),
        (
            {"host": "h", "port": 5433, "user": "u", "password": "it's", "database": "db"},
            "host='h' port='5433' user='u' password='it\\'s' dbname='db'",
        ),
    ],
)
def test_postgres_conninfo(config: dict[str, Any], conninfo: str) -> None:
    assert postgres_conninfo(config, "wh") == conninfo


def test_postgres_conninfo_refuses_other_schemes_and_nothing() -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        postgres_conninfo({"url": "mysql://h/db"}, "wh")
    with pytest.raises(ConfigError, match=r"needs config\.url, config\.dsn or config\.host"):
        postgres_conninfo({}, "wh")


def test_postgres_where_for_dsn_and_url() -> None:
    def where(config: dict[str, Any]) -> str:
        return repr(PostgresDB(ConnectorInit("wh", "db", "postgres", config, {})))

    assert where({"dsn": "host=db.internal port=6432 password=x"}).endswith("at db.internal:6432>")
    assert where({"url": "postgresql://u:x@h/db"}).endswith("at h:5432>")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", True),
        ("  -- comment\n/* block */ (select 1)", True),
        ("with q as (select 1) select * from q", True),
        ("VALUES (1)", True),
        ("INSERT INTO t VALUES (1) RETURNING id", False),
        ("SHOW search_path", False),
    ],
)
def test_postgres_server_side_cursor_only_for_queries(sql: str, expected: bool) -> None:
    assert is_query(sql) is expected


def test_mysql_params_from_url_and_keys() -> None:
    assert mysql_params({"url": "mysql+pymysql://root:p%40ss@db:3307/app?charset=latin1"}, "m") == {
        "host": "db",
        "port": 3307,
        "user": "root",
        "password": "p@ss",
        "database": "app",
        "charset": "latin1",
    }
    assert mysql_params({"host": "h", "user": "u", "db": "app"}, "m") == {
        "host": "h",
        "port": 3306,
        "user": "u",
        "password": "",
        "database": "app",
        "charset": "utf8mb4",
    }
    with pytest.raises(ConfigError, match="mysql://"):
        mysql_params({"url": "postgresql://h/db"}, "m")


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"path": "data/x.db"}, "data/x.db"),
        ({"url": "sqlite:///rel.db"}, "rel.db"),
        ({"url": "sqlite:////abs/x.db"}, "/abs/x.db"),
        ({"url": "sqlite:///:memory:"}, ":memory:"),
        ({"url": "sqlite://"}, ":memory:"),
    ],
)
def test_sqlite_path(config: dict[str, Any], path: str) -> None:
    assert sqlite_path(config, "s") == path


def test_sqlite_path_needs_a_sqlite_url() -> None:
    with pytest.raises(ConfigError, match="sqlite:///"):
        sqlite_path({"url": "postgresql://h/db"}, "s")
    with pytest.raises(ConfigError, match=r"config\.path or config\.url"):
        sqlite_path({}, "s")


def test_pool_options_nested_flat_and_defaults() -> None:
    assert pool_options({}) == {
        "size": 5,
        "max_overflow": 10,
        "recycle_seconds": 1800,
        "pre_ping": True,
    }
    flat = {"pool_size": 2, "max_overflow": 3, "pool_recycle": 60, "pool_pre_ping": False}
    assert pool_options(flat) == {
        "size": 2,
        "max_overflow": 3,
        "recycle_seconds": 60,
        "pre_ping": False,
    }
    both = {"pool": {"size": 9}, "pool_size": 2}
    assert pool_options(both)["size"] == 9
    with pytest.raises(ConfigError, match=r"options\.pool"):
        pool_options({"pool": 5})


def test_normalize_url_swaps_missing_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = {"psycopg", "pymysql"}
    monkeypatch.setattr(sqlalchemy_db, "_installed", lambda module: module in installed)
    assert normalize_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("mysql://u@h/db") == "mysql+pymysql://u@h/db"
    assert normalize_url("mariadb://u@h/db") == "mariadb+pymysql://u@h/db"
    assert normalize_url("postgresql+pg8000://u@h/db") == "postgresql+pg8000://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    installed.add("psycopg2")
    assert normalize_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"


def test_strip_driver() -> None:
    assert strip_driver("postgresql+psycopg2://h/db") == "postgresql://h/db"
    assert strip_driver("no-url") == "no-url"
