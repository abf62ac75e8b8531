"""Doccano test fixtures (load with `pytest_plugins = ["doccano_fixtures"]`): ONE real server per
test session, on a free port with a temporary DOCCANO_HOME, driven over HTTP; no mocks."""

from __future__ import annotations

import pytest

from doccano_helpers import ANNOTATORS, LocalServer, require_doccano
from zhner.doccano import server
from zhner.doccano.sync import add_user


@pytest.fixture(scope="session")
def doccano(tmp_path_factory: pytest.TempPathFactory) -> LocalServer:
    venv = require_doccano()
    home = tmp_path_factory.mktemp("doccano-home")
    creds = server.init(venv=venv, home=home, admin_username="admin")
    port = server.free_port()
    st = server.start(venv=venv, home=home, port=port, workers=2)
    srv = LocalServer(st.url, home, venv, creds.username, creds.password, port)
    for name, password in ANNOTATORS.items():
        add_user(conn=srv.conn(), username=name, password=password)
    yield srv
    server.stop(home=home)

