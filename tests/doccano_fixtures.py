"""Doccano test fixtures (load with `pytest_plugins = ["doccano_fixtures"]`): ONE real server per
test session, on a free port with a temporary DOCCANO_HOME, driven over HTTP; no mocks."""

from __future__ import annotations

import pytest

from doccano_helpers import (
    START_TIMEOUT_S, ANNOTATORS, LocalServer, PlainServer, Postgres, local_postgres, plain_doccano, require_doccano, require_postgres,
)  # fmt: skip
from zhner.doccano import server
from zhner.doccano.sync import add_user


def _serve(home, database: str | None = None) -> LocalServer:
    venv = require_doccano()
    if database:
        server.install(venv=venv, postgresql=True)
    creds = server.init(venv=venv, home=home, admin_username="admin", database=database)
    port = server.free_port()
    st = server.start(venv=venv, home=home, port=port, workers=2, timeout=START_TIMEOUT_S)
    srv = LocalServer(st.url, home, venv, creds.username, creds.password, port)
    for name, password in ANNOTATORS.items():
        add_user(conn=srv.conn(), username=name, password=password)
    return srv


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    """One PostgreSQL server per test session (each user of it makes its own database)."""
    with local_postgres(require_postgres()) as pg:
        yield pg


@pytest.fixture(scope="session")
def doccano_pg(tmp_path_factory: pytest.TempPathFactory, postgres: Postgres) -> LocalServer:
    """A zhner-managed Doccano on PostgreSQL (`serve --database-url`)."""
    home = tmp_path_factory.mktemp("doccano-pg-home")
    srv = _serve(home, postgres.create_database("doccano_session"))
    yield srv
    server.stop(home=home)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_doccano(request: pytest.FixtureRequest) -> LocalServer:
    """The key integration tests run on both databases."""
    return request.getfixturevalue("doccano" if request.param == "sqlite" else "doccano_pg")


@pytest.fixture(scope="session")
def doccano(tmp_path_factory: pytest.TempPathFactory) -> LocalServer:
    home = tmp_path_factory.mktemp("doccano-home")
    srv = _serve(home)
    yield srv
    server.stop(home=home)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> PlainServer:
    """A Doccano zhner does not manage, reached only by --url, with alice and bob made over the API."""
    with plain_doccano(require_doccano(), tmp_path_factory.mktemp("plain-home")) as srv:
        for name, password in ANNOTATORS.items():
            add_user(conn=srv.conn(), username=name, password=password)
        yield srv
