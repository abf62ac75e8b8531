"""The one module that speaks HTTP to Doccano (1.8.4 REST API), shaped like doccano-client's calls.

doccano-client itself pins pydantic<2, which cannot live beside spaCy 3.8, so this is a small
typed client over httpx. Every transport or HTTP error becomes one ZhnerError (E301–E306).
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from zhner.errors import fail

ROLE_NAMES = {"admin": "project_admin", "annotator": "annotator", "approver": "annotation_approver"}


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class User(Model):
    id: int
    username: str
    is_superuser: bool = False


class Project(Model):
    id: int
    name: str
    project_type: str
    collaborative_annotation: bool = False
    grapheme_mode: bool = False
    guideline: str = ""


class SpanType(Model):
    id: int
    text: str
    background_color: str = ""
    suffix_key: str | None = None


class Member(Model):
    id: int
    user: int
    role: int
    username: str
    rolename: str


class DoccanoSpan(Model):
    id: int
    label: int
    start_offset: int
    end_offset: int
    user: int


class DoccanoGateway:
    """A logged-in session with one Doccano server (token auth, so no CSRF dance)."""

    def __init__(self, url: str, *, timeout: float = 120.0, poll_s: float = 0.25):
        self.url = url.rstrip("/")
        self.poll_s = poll_s
        self._http = httpx.Client(base_url=self.url, timeout=timeout)
        self.username: str | None = None

    def __enter__(self) -> DoccanoGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- transport -------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise fail("E301", url=self.url, reason=f"{type(err).__name__}: {err}") from None
        if resp.status_code == 401 or (resp.status_code == 403 and self.username is None):
            raise fail("E303", url=self.url, username=self.username)
        if resp.status_code >= 400:
            reason = resp.text[:300].replace("\n", " ") or resp.reason_phrase
            raise fail("E304", method=method, path=path, status=resp.status_code, reason=reason)
        return resp

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._request(method, path, **kwargs)
        return resp.json() if resp.content else None

    def _paged(self, path: str, params: dict | None = None, limit: int = 500) -> Iterator[dict]:
        """Follow LimitOffset pagination (`next`) until the last page."""
        params = {**(params or {}), "limit": limit, "offset": 0}
        while True:
            page = self._json("GET", path, params=params)
            if isinstance(page, list):  # an unpaginated endpoint
                yield from page
                return
            yield from page["results"]
            if not page.get("next"):
                return
            params["offset"] += limit

    # --- session ---------------------------------------------------------------------------
    def health(self) -> dict:
        try:
            resp = self._http.get("/v1/health/", params={"format": "json"})
        except httpx.TransportError as err:
            raise fail("E301", url=self.url, reason=f"{type(err).__name__}: {err}") from None
        if resp.status_code != 200:
            raise fail("E302", url=self.url, reason=f"HTTP {resp.status_code} {resp.text[:200]}")
        return resp.json()

    def login(self, username: str, password: str) -> User:
        """Log in and keep the token for every later call."""
        self.username = username
        try:
            resp = self._http.post("/v1/auth/login/", json={"username": username, "password": password})
        except httpx.TransportError as err:
            raise fail("E301", url=self.url, reason=f"{type(err).__name__}: {err}") from None
        if resp.status_code in (400, 401, 403):
            raise fail("E303", url=self.url, username=username)
        if resp.status_code >= 400:
            raise fail("E304", method="POST", path="/v1/auth/login/", status=resp.status_code, reason=resp.text[:300])
        self._http.headers["Authorization"] = f"Token {resp.json()['key']}"
        # with the session cookie login also set, Django would demand a CSRF token on every write
        self._http.cookies.clear()
        return self.me()

    def me(self) -> User:
        return User.model_validate(self._json("GET", "/v1/me"))

    # --- users -----------------------------------------------------------------------------
    def find_user(self, username: str) -> User | None:
        for row in self._json("GET", "/v1/users", params={"q": username}):
            if row["username"] == username:
                return User.model_validate(row)
        return None

    def create_user(self, username: str, password: str, email: str | None = None) -> User:
        body = {"username": username, "email": email or f"{username}@example.org", "password1": password, "password2": password}
        return User.model_validate(self._json("POST", "/v1/users/create", json=body))

    # --- projects, labels, members -----------------------------------------------------------
    def projects(self) -> list[Project]:
        return [Project.model_validate(p) for p in self._paged("/v1/projects")]

    def find_project(self, name: str) -> Project | None:
        return next((p for p in self.projects() if p.name == name), None)

    def create_project(
        self, name: str, *, guideline: str = "", collaborative: bool = False, grapheme_mode: bool = True,
        allow_overlapping: bool = False, description: str = "",
    ) -> Project:  # fmt: skip
        body = {
            "name": name,
            "description": description or name,
            "guideline": guideline,
            "project_type": "SequenceLabeling",
            "resourcetype": "SequenceLabelingProject",
            "collaborative_annotation": collaborative,
            "grapheme_mode": grapheme_mode,
            "allow_overlapping": allow_overlapping,
            "random_order": False,
        }
        return Project.model_validate(self._json("POST", "/v1/projects", json=body))

    def update_project(self, project_id: int, **fields: Any) -> Project:
        fields.setdefault("resourcetype", "SequenceLabelingProject")
        return Project.model_validate(self._json("PATCH", f"/v1/projects/{project_id}", json=fields))

    def span_types(self, project_id: int) -> list[SpanType]:
        return [SpanType.model_validate(t) for t in self._json("GET", f"/v1/projects/{project_id}/span-types")]

    def create_span_type(
        self, project_id: int, text: str, *, color: str, text_color: str = "#ffffff", shortcut: str | None = None
    ) -> SpanType:
        body = {"text": text, "background_color": color, "text_color": text_color, "suffix_key": shortcut}
        return SpanType.model_validate(self._json("POST", f"/v1/projects/{project_id}/span-types", json=body))

    def roles(self) -> dict[str, int]:
        return {r["name"]: r["id"] for r in self._json("GET", "/v1/roles")}

    def members(self, project_id: int) -> list[Member]:
        return [Member.model_validate(m) for m in self._json("GET", f"/v1/projects/{project_id}/members")]

    def add_member(self, project_id: int, user_id: int, role_id: int) -> Member:
        body = {"user": user_id, "role": role_id}
        return Member.model_validate(self._json("POST", f"/v1/projects/{project_id}/members", json=body))

    # --- examples and spans ------------------------------------------------------------------
    def count_examples(self, project_id: int) -> int:
        return int(self._json("GET", f"/v1/projects/{project_id}/examples", params={"limit": 1})["count"])

    def examples(self, project_id: int) -> Iterator[dict]:
        return self._paged(f"/v1/projects/{project_id}/examples")

    def delete_examples(self, project_id: int, ids: list[int]) -> None:
        if not ids:  # Doccano deletes EVERY example when the id list is empty
            return
        self._request("DELETE", f"/v1/projects/{project_id}/examples", json={"ids": ids})

    def spans(self, project_id: int, example_id: int) -> list[DoccanoSpan]:
        rows = self._json("GET", f"/v1/projects/{project_id}/examples/{example_id}/spans")
        return [DoccanoSpan.model_validate(r) for r in rows]

    def create_span(self, project_id: int, example_id: int, start: int, end: int, label_id: int) -> DoccanoSpan:
        body = {"start_offset": start, "end_offset": end, "label": label_id}
        path = f"/v1/projects/{project_id}/examples/{example_id}/spans"
        return DoccanoSpan.model_validate(self._json("POST", path, json=body))

    def update_span(self, project_id: int, example_id: int, span_id: int, **fields: Any) -> DoccanoSpan:
        path = f"/v1/projects/{project_id}/examples/{example_id}/spans/{span_id}"
        return DoccanoSpan.model_validate(self._json("PATCH", path, json=fields))

    def delete_span(self, project_id: int, example_id: int, span_id: int) -> None:
        self._request("DELETE", f"/v1/projects/{project_id}/examples/{example_id}/spans/{span_id}")

    def confirm(self, project_id: int, example_id: int) -> None:
        """Toggle the logged-in user's "confirmed" state of an example."""
        self._request("POST", f"/v1/projects/{project_id}/examples/{example_id}/states")

    # --- import and export (Celery tasks) -----------------------------------------------------
    def upload(self, project_id: int, data: bytes, *, filename: str = "tasks.jsonl", timeout: float = 900) -> None:
        """Import JSONL through Doccano's own importer and wait for it; any row error raises."""
        files = {"filepond": (filename, data, "application/octet-stream")}
        upload_id = self._request("POST", "/v1/fp/process/", files=files).text.strip()
        body = {"uploadIds": [upload_id], "task": "SequenceLabeling", "format": "JSONL", "column_label": "label"}
        body["encoding"] = "utf_8"  # left to chardet, short Chinese files get decoded as cp1252
        task_id = self._json("POST", f"/v1/projects/{project_id}/upload", json=body)["task_id"]
        result = self.wait_task(task_id, timeout=timeout)
        errors = (result or {}).get("error") or []
        if errors:  # Doccano reports `ready` with the errors inside: doccano-client misses this
            raise fail("E305", task=task_id, reason=f"{len(errors)} error(s), first: {errors[0]}")

    def wait_task(self, task_id: str, *, timeout: float = 900) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            status = self._json("GET", f"/v1/tasks/status/{task_id}")
            if status.get("ready"):
                if status.get("error"):
                    raise fail("E305", task=task_id, reason=status["error"])
                return status.get("result")
            if time.monotonic() > deadline:
                raise fail("E306", task=task_id, timeout=timeout)
            time.sleep(self.poll_s)

    def export(self, project_id: int, *, approved: bool = False, timeout: float = 900) -> dict[str, bytes]:
        """Export the project as JSONL; returns {file name in the zip: bytes}."""
        body = {"format": "JSONL", "exportApproved": approved}
        task_id = self._json("POST", f"/v1/projects/{project_id}/download", json=body)["task_id"]
        self.wait_task(task_id, timeout=timeout)
        resp = self._request("GET", f"/v1/projects/{project_id}/download", params={"taskId": task_id})
        try:
            with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
                return {name: zf.read(name) for name in zf.namelist()}
        except zipfile.BadZipFile as err:
            raise fail("E305", task=task_id, reason=f"the export is not a zip file ({err})") from None

