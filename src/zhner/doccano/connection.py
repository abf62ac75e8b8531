"""Who talks to which Doccano: the connection (URL, credentials, and for our local server its
home), logging in, and creating accounts. Every call goes over the REST API, to any server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from zhner.doccano import server
from zhner.doccano.gateway import DoccanoGateway
from zhner.errors import fail


@dataclass(frozen=True)
class Connection:
    """Where the server is and who logs in; `home`/`venv` are set when it is our local server."""

    url: str
    username: str
    password: str
    home: Path | None = None
    venv: Path | None = None
    timeout: float = 120.0


def connect(conn: Connection) -> DoccanoGateway:
    """A logged-in gateway. For our local server (conn.home set) the server must first prove it is
    the one `serve` started (server.verify_identity): its port may belong to anything by now."""
    if conn.home is not None:
        server.verify_identity(home=conn.home, url=conn.url, timeout=min(conn.timeout, 30.0))
    gw = DoccanoGateway(conn.url, timeout=conn.timeout)
    try:
        gw.login(conn.username, conn.password)
    except BaseException:
        gw.close()
        raise
    return gw


def local_connection(
    *, home: Path, venv: Path, url: str | None = None, username: str | None = None, password: str | None = None,
    timeout: float = 120.0,
) -> Connection:  # fmt: skip
    """Credentials from arguments, $ZHNER_DOCCANO_USERNAME/PASSWORD, or the local admin file."""
    username = username or os.environ.get("ZHNER_DOCCANO_USERNAME")
    password = password or os.environ.get("ZHNER_DOCCANO_PASSWORD")
    local = server.local_url(home)
    url = url or os.environ.get("ZHNER_DOCCANO_URL") or local
    if url is None:
        raise fail("E301", url="(no server)", reason=f"no URL given and no local server recorded in {home}")
    is_local = local is not None and url.rstrip("/") == local.rstrip("/")
    if not password:
        # the local admin's password belongs to the local server, and only it gets it (after it
        # proves its identity in connect()); another URL needs credentials of its own
        if not is_local:
            raise fail("E322", url=url, home=home)
        creds = server.read_credentials(home)
        if creds is None:
            raise fail("E313", path=server.credentials_path(home))
        username, password = username or creds.username, creds.password
    return Connection(
        url=url, username=username, password=password, home=home if is_local else None,
        venv=venv if is_local else None, timeout=timeout,
    )  # fmt: skip


def add_user(*, conn: Connection, username: str, password: str) -> tuple[int, bool]:
    """Create a Doccano account (as the admin) unless it exists; returns its id and whether it is new."""
    with connect(conn) as gw:
        user = gw.find_user(username)
        return (user.id, False) if user else (gw.create_user(username, password).id, True)
