"""The sandbox's in-memory world: one account, its workspaces, projects, assets, comments, and so on.

Records are plain dicts holding the API fields plus private keys that start with "_" (upload parts,
secrets, frame rates); `render.py` turns them into API answers. Every read or write of the collections
holds `lock`. `to_json()` / `load_json()` keep everything but the event and delivery logs, so a sandbox
started on the same state file finds its projects again.
"""

import json
import os
import secrets
import threading
import uuid
from pathlib import Path
from typing import Any

from frameio_sandbox.runtime import Clock

# Fixed ids for what a fresh sandbox holds, so that ids stored by postflow survive a sandbox reset.
_NS = uuid.UUID("5b1f7d52-6a4e-4f55-9c1e-7f0c2a0d8e11")
ACCOUNT_ID = str(uuid.uuid5(_NS, "account"))
WORKSPACE_ID = str(uuid.uuid5(_NS, "workspace"))
USER_ID = str(uuid.uuid5(_NS, "user"))
SERVICE_USER_ID = str(uuid.uuid5(_NS, "service-account-user"))
STATUS_FIELD_ID = str(uuid.uuid5(_NS, "field:Status"))
STATUS_OPTIONS = ("Needs Review", "In Progress", "Approved", "Needs Changes")
STATUS_COLORS = ("#F5A623", "#4A90E2", "#7ED321", "#D0021B")

_COLLECTIONS = (
    "accounts",
    "users",
    "workspaces",
    "projects",
    "folders",
    "files",
    "version_stacks",
    "comments",
    "field_definitions",
    "metadata_values",
    "shares",
    "webhooks",
    "tokens",
)


def new_id() -> str:
    return str(uuid.uuid4())


def option_id(field_id: str, display_name: str) -> str:
    return str(uuid.uuid5(_NS, f"option:{field_id}:{display_name}"))


class SandboxState:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.accounts: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.workspaces: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.files: dict[str, dict] = {}
        self.version_stacks: dict[str, dict] = {}
        self.comments: dict[str, dict] = {}
        self.field_definitions: dict[str, dict] = {}
        self.metadata_values: dict[str, dict[str, Any]] = {}  # file id -> {field definition id: value}
        self.shares: dict[str, dict] = {}
        self.webhooks: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}  # IMS: codes, access and refresh tokens by their string
        self.signing_key = secrets.token_hex(32)  # signs presigned upload/download URLs
        self.events: list[dict] = []  # every event the sandbox emitted, in order
        self.webhook_deliveries: list[dict] = []  # every delivery attempt, in order
        self.token_calls: dict[str, int] = {}  # IMS token endpoint calls by grant_type
        self._children: dict[str, list[str]] = {}  # parent id -> child ids in creation order

    # -- seeding and persistence ---------------------------------------------------------------

    def seed(self) -> None:
        now = self.clock.iso()
        self.users[USER_ID] = {
            "id": USER_ID,
            "name": "Sandbox User",
            "email": "sandbox.user@example.com",
            "created_at": now,
        }
        self.users[SERVICE_USER_ID] = {
            "id": SERVICE_USER_ID,
            "name": "Service Account User",
            "email": "service-account-user@techacct.example.com",
            "created_at": now,
        }
        self.accounts[ACCOUNT_ID] = {
            "id": ACCOUNT_ID,
            "display_name": "Sandbox Account",
            "created_at": now,
            "updated_at": now,
        }
        self.workspaces[WORKSPACE_ID] = {
            "id": WORKSPACE_ID,
            "name": "Sandbox Workspace",
            "account_id": ACCOUNT_ID,
            "created_at": now,
            "updated_at": now,
            "_creator_id": USER_ID,
        }
        for name, field_type, configuration in _builtin_fields():
            field_id = STATUS_FIELD_ID if name == "Status" else str(uuid.uuid5(_NS, f"field:{name}"))
            if field_type in ("select", "select_multi"):
                for option in configuration["options"]:
                    option["id"] = option_id(field_id, option["display_name"])
            self.field_definitions[field_id] = {
                "id": field_id,
                "name": name,
                "field_type": field_type,
                "field_configuration": configuration,
                "mutable": False,
                "creator_id": USER_ID,
                "created_at": now,
                "updated_at": now,
            }

    def to_json(self) -> str:
        with self.lock:
            payload = {name: getattr(self, name) for name in _COLLECTIONS}
            payload["signing_key"] = self.signing_key
            payload["children"] = self._children
            return json.dumps(payload, sort_keys=True)

    def load_json(self, text: str) -> None:
        payload = json.loads(text)
        with self.lock:
            for name in _COLLECTIONS:
                getattr(self, name).update(payload.get(name, {}))
            self.signing_key = payload.get("signing_key", self.signing_key)
            self._children = {k: list(v) for k, v in payload.get("children", {}).items()}

    def save(self, path: Path) -> None:
        """Write atomically: a crash mid-write leaves the previous file."""
        text = self.to_json()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    # -- assets ------------------------------------------------------------------------------------

    def asset(self, asset_id: str) -> dict | None:
        return self.folders.get(asset_id) or self.files.get(asset_id) or self.version_stacks.get(asset_id)

    def children(self, parent_id: str) -> list[dict]:
        return [a for a in (self.asset(i) for i in self._children.get(parent_id, [])) if a is not None]

    def attach(self, asset: dict, parent_id: str | None) -> None:
        """Set `asset`'s parent, keeping the children index in step."""
        old = asset.get("parent_id")
        if old and asset["id"] in self._children.get(old, []):
            self._children[old].remove(asset["id"])
        asset["parent_id"] = parent_id
        if parent_id:
            self._children.setdefault(parent_id, []).append(asset["id"])

    def delete_asset(self, asset_id: str) -> list[dict]:
        """Remove an asset and everything under it; returns the removed records, the asset first."""
        asset = self.asset(asset_id)
        if asset is None:
            return []
        removed = [asset]
        for child_id in list(self._children.get(asset_id, [])):
            removed += self.delete_asset(child_id)
        self._children.pop(asset_id, None)
        self.attach(asset, None)
        for collection in (self.folders, self.files, self.version_stacks):
            collection.pop(asset_id, None)
        self.metadata_values.pop(asset_id, None)
        for comment_id in [c["id"] for c in self.comments.values() if c["file_id"] == asset_id]:
            del self.comments[comment_id]
        return removed

    def workspace_of_project(self, project_id: str | None) -> str | None:
        project = self.projects.get(project_id or "")
        return project["workspace_id"] if project else None

    # -- helpers for tests -------------------------------------------------------------------------

    def status_option_id(self, display_name: str) -> str:
        """The id of an option of the built-in "Status" field, e.g. status_option_id("Approved")."""
        return option_id(STATUS_FIELD_ID, display_name)

    def file_content(self, file_id: str) -> bytes:
        """The uploaded bytes of a file, parts joined (tests only: reads the whole file into memory)."""
        with self.lock:
            parts = sorted(self.files[file_id].get("_parts", {}).items(), key=lambda kv: int(kv[0]))
        return b"".join(Path(part["path"]).read_bytes() for _, part in parts)


def _builtin_fields() -> list[tuple[str, str, dict]]:
    """A few of Frame.io's out-of-the-box fields; "Status" is the one review workflows use."""
    return [
        (
            "Status",
            "select",
            {
                "enable_add_new": False,
                "options": [
                    {"display_name": name, "color": color}
                    for name, color in zip(STATUS_OPTIONS, STATUS_COLORS, strict=True)
                ],
            },
        ),
        ("Rating", "rating", {"max_value": 5, "style": "star", "color": None}),
        ("Notes", "long_text", {}),
        (
            "Assignee",
            "user_single",
            {"notify_members": True, "member_options_type": "all_project_members", "custom_members": []},
        ),
        (
            "Keywords",
            "select_multi",
            {
                "enable_add_new": True,
                "options": [{"display_name": "VFX", "color": None}, {"display_name": "Grade", "color": None}],
            },
        ),
    ]
