"""The Doccano projects behind one zhner project name, and their setup (guideline, labels, members).

Doccano 1.8.4 shows every example of a project to every member, and in its individual mode shows
each member only the spans that member created: imported pre-annotations belong to whoever
imported them, no API creates or moves spans for another user, and there is no assignment
feature. So zhner's individual mode gives each annotator a project of their own, its *queue*,
named `NAME@annotator`: the admin imports the annotator's segments into it, and the queue is a
Doccano collaborative project, so the imported pre-annotations are the annotator's to correct.
Only that annotator (with the admin, and approvers) is a member, so nothing is shared with anyone
else, and the queue holds exactly the segments routed to that annotator. Everything goes over
the REST API with the admin's credentials: any Doccano server works, local or not.
Collaborative mode is one shared project named `NAME`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zhner.config import config_path, load_labels
from zhner.doccano.gateway import ROLE_NAMES, DoccanoGateway, Project
from zhner.errors import fail

QUEUE_SEP = "@"
MODES = {True: "collaborative", False: "individual"}


def queue_name(project: str, user: str) -> str:
    """The Doccano project that holds `user`'s segments of `project` (individual mode)."""
    return f"{project}{QUEUE_SEP}{user}"


@dataclass
class Layout:
    """What the server holds under one zhner project name."""

    name: str
    shared: Project | None = None  # the Doccano project named exactly `name`
    queues: dict[str, Project] = field(default_factory=dict)  # annotator → queue project

    @property
    def exists(self) -> bool:
        return self.shared is not None or bool(self.queues)


def layout(gw: DoccanoGateway, name: str) -> Layout:
    """The project named `name` and the queues `name@user` (user = the rest of the name)."""
    found = Layout(name)
    prefix = name + QUEUE_SEP
    for proj in gw.projects():
        if proj.name == name:
            found.shared = proj
        elif proj.name.startswith(prefix) and proj.collaborative_annotation:
            found.queues[proj.name[len(prefix) :]] = proj
    return found


def check_mode(found: Layout, *, collaborative: bool) -> None:
    """E316 when the name is used in the other mode; E323 for a single individual-mode project
    that an older zhner made (its annotators got pre-annotations through its database)."""
    shared = found.shared
    if collaborative:
        if found.queues or (shared is not None and not shared.collaborative_annotation):
            raise fail("E316", name=found.name, actual=MODES[False], wanted=MODES[True])
    elif shared is not None:
        if shared.collaborative_annotation:
            raise fail("E316", name=found.name, actual=MODES[True], wanted=MODES[False])
        raise fail("E323", name=found.name)


def find_work_project(gw: DoccanoGateway, name: str, username: str) -> Project | None:
    """The project `username` works in under `name`: their queue, else the shared project."""
    by_name = {p.name: p for p in gw.projects()}
    return by_name.get(queue_name(name, username)) or by_name.get(name)


def read_guideline(path: Path | None = None) -> str:
    """configs/guidelines.md, or an empty guideline while it does not exist yet."""
    path = path or config_path("guidelines.md")
    # Doccano strips surrounding whitespace: compare and send the stripped text
    return Path(path).read_text(encoding="utf-8").strip() if Path(path).exists() else ""


def ensure_project(
    gw: DoccanoGateway, name: str, *, guideline: str, grapheme_mode: bool, allow_overlapping: bool,
    existing: Project | None = None, description: str = "",
) -> Project:  # fmt: skip
    """Reuse `existing` or create a collaborative project (both modes' projects are collaborative
    in Doccano's sense: see the module docstring); keep the guideline current."""
    if existing is None:
        return gw.create_project(
            name, guideline=guideline, collaborative=True, grapheme_mode=grapheme_mode,
            allow_overlapping=allow_overlapping, description=description,
        )  # fmt: skip
    if guideline and existing.guideline != guideline:
        return gw.update_project(existing.id, guideline=guideline)
    return existing


def ensure_labels(gw: DoccanoGateway, project_id: int, labels_path: Path | None = None) -> dict[str, int]:
    """Create the label types of configs/labels.yml (with their colours) that the project lacks."""
    scheme = load_labels(labels_path)
    existing = {t.text: t.id for t in gw.span_types(project_id)}
    used_keys = set()
    for name, spec in scheme.labels.items():
        if name in existing:
            continue
        key = spec.shortcut if spec.shortcut and spec.shortcut not in used_keys else None
        used_keys.add(key)
        existing[name] = gw.create_span_type(
            project_id, name, color=spec.color, text_color=spec.text_color, shortcut=key
        ).id
    return existing


def check_users_exist(gw: DoccanoGateway, usernames: Iterable[str]) -> None:
    """E314 for the first account that does not exist: checked before the project is created, so
    a typo in --annotator leaves nothing behind."""
    for username in dict.fromkeys(usernames):
        if gw.find_user(username) is None:
            raise fail("E314", username=username, url=gw.url)


def ensure_members(gw: DoccanoGateway, project_id: int, roles: dict[str, str]) -> dict[str, int]:
    """Add users to the project with their role ({username: admin|annotator|approver}); returns user ids."""
    role_ids = gw.roles()
    members = {m.username: m.user for m in gw.members(project_id)}
    ids = {}
    for username, role in roles.items():
        if username in members:
            ids[username] = members[username]
            continue
        user = gw.find_user(username)
        if user is None:
            raise fail("E314", username=username, url=gw.url)
        gw.add_member(project_id, user.id, role_ids[ROLE_NAMES[role]])
        ids[username] = user.id
    return ids
