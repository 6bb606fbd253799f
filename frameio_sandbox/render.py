"""State records -> the JSON shapes of the Frame.io v4 spec (field names and required keys as in
openapi-v4.json). Callers hold `sb.state.lock`."""

from typing import TYPE_CHECKING, Any

from frameio_sandbox import timecode, uploads

if TYPE_CHECKING:
    from frameio_sandbox.server import Sandbox

MEDIA_LINKS = (
    "original",
    "thumbnail",
    "thumbnail_high_quality",
    "video_h264_180",
    "high_quality",
    "efficient",
    "scrub_sheet",
)


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def user(sb: "Sandbox", user_id: str | None) -> dict:
    record = sb.state.users.get(user_id or "")
    if record is None:
        return {"id": user_id, "name": None, "email": "", "avatar_url": None, "active": False}
    return {"id": record["id"], "name": record["name"], "email": record["email"], "avatar_url": None, "active": True}


def profile(sb: "Sandbox", user_id: str) -> dict:
    record = sb.state.users[user_id]
    return {"id": record["id"], "name": record["name"], "email": record["email"], "avatar_url": None}


def account(sb: "Sandbox", record: dict) -> dict:
    usage = sum(f["file_size"] for f in sb.state.files.values() if f["status"] != "created")
    return {**public(record), "roles": ["owner"], "storage_limit": None, "storage_usage": usage, "image": None}


def workspace(sb: "Sandbox", record: dict, include: set[str] = frozenset()) -> dict:
    data = {**public(record), "image": None}
    if "creator" in include:
        data["creator"] = user(sb, record.get("_creator_id"))
    return data


def project(sb: "Sandbox", record: dict, include: set[str] = frozenset()) -> dict:
    storage = sum(
        f["file_size"] for f in sb.state.files.values() if f["project_id"] == record["id"] and f["status"] != "created"
    )
    data = {
        **public(record),
        "storage": storage,
        "view_url": f"{sb.base_url}/project/{record['id']}",
        "image": None,
        "description": None,
    }
    if "owner" in include:
        data["owner"] = user(sb, record.get("_creator_id"))
    return data


def _asset_common(sb: "Sandbox", record: dict, include: set[str]) -> dict:
    data = {
        "id": record["id"],
        "name": record["name"],
        "type": record["type"],
        "parent_id": record["parent_id"],
        "project_id": record["project_id"],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "view_url": f"{sb.base_url}/project/{record['project_id']}/view/{record['id']}",
    }
    if "creator" in include:
        data["creator"] = user(sb, record.get("_creator_id"))
    if "project" in include:
        data["project"] = project(sb, sb.state.projects[record["project_id"]])
    if "metadata" in include:
        data["metadata"] = metadata_fields(sb, record["id"], show_null=True) if record["type"] == "file" else []
    return data


def folder(sb: "Sandbox", record: dict, include: set[str] = frozenset()) -> dict:
    # `restricted` is not in the published spec's Folder, but the SDK's model requires it (the sandbox has no
    # folder-level access restriction, so always false).
    return {**_asset_common(sb, record, include), "cover_file_id": None, "restricted": False}


def file(sb: "Sandbox", record: dict, include: set[str] = frozenset()) -> dict:
    data = {
        **_asset_common(sb, record, include),
        "file_size": record["file_size"],
        "media_type": record["media_type"],
        "status": record["status"],
    }
    wanted = [name.split(".", 1)[1] for name in include if name.startswith("media_links.")]
    if wanted:
        data["media_links"] = media_links(sb, record, wanted)
    return data


def media_links(sb: "Sandbox", record: dict, wanted: list[str]) -> dict:
    """The sandbox transcodes nothing: once "transcoded", every rendition of a video or image is the
    original itself; until then (and for other media types) the URLs are null."""
    stored = record["status"] != "created"
    viewable = (record["media_type"] or "").split("/")[0] in ("video", "image", "audio")
    links: dict[str, Any] = {}
    for name in MEDIA_LINKS:
        if name not in wanted:
            continue
        if name == "original":
            links[name] = {
                "download_url": uploads.download_url(sb, record, attachment=True) if stored else None,
                "inline_url": uploads.download_url(sb, record, attachment=False) if stored else None,
            }
        else:
            ready = record["status"] == "transcoded" and viewable
            url = uploads.download_url(sb, record, attachment=False) if ready else None
            links[name] = {"download_url": url, "url": url}
    return links


def version_stack(sb: "Sandbox", record: dict, include: set[str] = frozenset()) -> dict:
    members = sb.state.children(record["id"])
    head = members[-1] if members else None
    return {
        **_asset_common(sb, record, include),
        "name": head["name"] if head else record["name"],
        "head_version": file(sb, head, include) if head else None,
    }


def asset(sb: "Sandbox", record: dict, include: set[str] = frozenset()) -> dict:
    return {"file": file, "folder": folder, "version_stack": version_stack}[record["type"]](sb, record, include)


def comment(sb: "Sandbox", record: dict, as_timecode: bool = False, include: set[str] = frozenset()) -> dict:
    stamp = record["timestamp"]
    if as_timecode and stamp is not None:
        stamp = timecode.frame_to_timecode(stamp, file_fps(sb, record["file_id"]))
    data = {**public(record), "timestamp": stamp}
    if "owner" in include:
        data["owner"] = user(sb, record.get("_owner_id"))
    if "replies" in include:
        data["replies"] = []
    return data


def file_fps(sb: "Sandbox", file_id: str) -> float:
    record = sb.state.files.get(file_id) or {}
    return record.get("_fps") or sb.config.default_fps


def field_definition(sb: "Sandbox", record: dict, include: set[str] = frozenset()) -> dict:
    data = public(record)
    if "creator" in include:
        data["creator"] = user(sb, record["creator_id"])
    return data


def metadata_fields(sb: "Sandbox", file_id: str, show_null: bool) -> list[dict]:
    values = sb.state.metadata_values.get(file_id, {})
    fields = []
    for definition in sb.state.field_definitions.values():
        value = values.get(definition["id"])
        if value is None and not show_null:
            continue
        entry = {
            "field_definition_id": definition["id"],
            "field_definition_name": definition["name"],
            "field_type": definition["field_type"],
            "mutable": definition["mutable"],
        }
        if definition["field_type"] in ("select", "select_multi"):
            options = definition["field_configuration"]["options"]
            names = {o["id"]: o["display_name"] for o in options}
            entry["value"] = [{"id": i, "display_name": names[i]} for i in (value or []) if i in names]
            entry["field_options"] = [{"id": o["id"], "display_name": o["display_name"]} for o in options]
        elif definition["field_type"] in ("user_single", "user_multi"):
            entry["value"] = value or []
            configuration = definition["field_configuration"]
            entry["member_options_type"] = configuration.get("member_options_type", "all_project_members")
            entry["custom_members"] = configuration.get("custom_members", [])
        else:
            entry["value"] = value
        fields.append(entry)
    return fields


def share(sb: "Sandbox", record: dict) -> dict:
    return {
        **public(record),
        "short_url": f"{sb.base_url}/s/{record['_slug']}",
        "description": record.get("description"),
    }


def webhook(sb: "Sandbox", record: dict, include: set[str] = frozenset(), with_secret: bool = False) -> dict:
    data = public(record)
    if with_secret:
        data["secret"] = record["_secret"]
    if "creator" in include:
        data["creator"] = user(sb, record.get("_creator_id"))
    return data
