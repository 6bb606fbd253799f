"""The /v4 endpoints of Frame.io that the sandbox emulates.

Every request goes: route (404 if the path is not in the spec) -> bearer token (401) -> rate limit of the
operation (429; the x-ratelimit-* headers go on every answer) -> query parameters and JSON body checked
against the spec (400 for broken JSON, 422 for unknown fields and invalid values) -> the handler, under the
state lock. Operations the spec has but the sandbox does not emulate answer 501 in the error envelope.

Answers use the real envelopes: {"data": ...}; lists {"data": [...], "links": {"next": ...}} (+
total_count with include_total_count=true); errors {"errors": [{"detail", "title", "source"?}]}.
Pagination is forward-only with an opaque `after` cursor; `links.next` is a relative path that carries only
`after`, so page_size, sort and include must be sent again with each page, as with Frame.io.
"""

import base64
import binascii
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frameio_sandbox import ims, remote, render, uploads
from frameio_sandbox.replies import Reply, json_reply
from frameio_sandbox.routing import Operation
from frameio_sandbox.state import new_id
from frameio_sandbox.timecode import timecode_to_frame
from frameio_sandbox.webhooks import EVENTS

if TYPE_CHECKING:
    from frameio_sandbox.server import Sandbox

_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 409: "Conflict"}
_TITLES |= {415: "Unsupported media type", 422: "Invalid value", 429: "Too many requests", 501: "Not implemented"}


class ApiError(Exception):
    def __init__(self, status: int, detail: str, pointer: str | None = None, errors: list[dict] | None = None):
        super().__init__(detail)
        self.status = status
        item = {"detail": detail, "title": _TITLES.get(status, "Error")}
        if pointer is not None:
            item["source"] = {"pointer": pointer}
        self.errors = errors or [item]


def error_reply(status: int, detail: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"errors": ApiError(status, detail).errors}, headers)


@dataclass
class ApiRequest:
    op: Operation
    path: str  # the request path without the sandbox's prefix, e.g. "/v4/accounts/.../children"
    params: dict[str, str]
    query: dict[str, Any]  # validated and typed: page_size is an int, include a set, booleans bools
    body: Any
    user_id: str

    @property
    def data(self) -> dict:
        return (self.body or {}).get("data") or {}

    @property
    def include(self) -> set[str]:
        return self.query.get("include", set())


def handle(sb: "Sandbox", method: str, path: str, query: dict[str, str], headers, body: bytes) -> Reply:
    match = sb.spec.match(method, path)
    if match is None:
        return error_reply(404, "Not found")
    op, params = match
    user_id, why = ims.bearer_user(sb, headers.get("Authorization"))
    decision = sb.rate_limiter.take(
        (user_id or "anonymous", op.operation_id), op.rate_limit, op.rate_window_ms, sb.config.rate_limits
    )
    limits = decision.headers()
    if user_id is None:
        return error_reply(401, why, limits)
    if not decision.allowed:
        return error_reply(429, f"Rate limit exceeded: {op.rate_limit} calls per {op.rate_window_ms} ms", limits)
    sb.set_current_user(user_id)
    try:
        handler = HANDLERS.get(op.operation_id)
        if handler is None:
            raise ApiError(501, f"The Frame.io sandbox does not emulate {op.operation_id} ({op.method} {op.path})")
        request = ApiRequest(op, path, params, _parse_query(sb, op, query), _parse_body(sb, op, headers, body), user_id)
        with sb.state.lock:
            if "account_id" in params and params["account_id"] not in sb.state.accounts:
                raise ApiError(404, "Account not found")
            reply = handler(sb, request)
    except ApiError as exc:
        reply = json_reply(exc.status, {"errors": exc.errors})
    finally:
        sb.set_current_user(None)
    reply.headers.update(limits)
    if method != "GET" and reply.status < 400:
        sb.persist()
    return reply


def _parse_query(sb: "Sandbox", op: Operation, raw: dict[str, str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for name, schema in op.query.items():
        if name not in raw:
            continue
        resolved = sb.spec.validator.resolve(schema)
        value: Any = raw[name]
        kind = resolved.get("type")
        if name == "include":
            value = {v.strip() for v in value.split(",") if v.strip()}
            bad = sorted(v for v in value if "enum" in resolved and v not in resolved["enum"])
            if bad:
                raise ApiError(422, f"Invalid include: {', '.join(bad)}; allowed: {', '.join(resolved['enum'])}")
            parsed[name] = value
            continue
        if kind == "integer":
            try:
                value = int(value)
            except ValueError:
                raise ApiError(422, f"{name} must be an integer") from None
        elif kind == "boolean":
            if value not in ("true", "false"):
                raise ApiError(422, f"{name} must be true or false")
            value = value == "true"
        elif kind == "object":
            continue  # deepObject filters: accepted, not applied
        if errors := sb.spec.validator.validate(value, schema):
            raise ApiError(422, f"{name}: {errors[0].message}")
        parsed[name] = value
    return parsed


def _parse_body(sb: "Sandbox", op: Operation, headers, raw: bytes) -> Any:
    if op.body is None:
        return None
    payload: Any = {}
    if raw.strip():
        if "json" not in headers.get("Content-Type", ""):
            raise ApiError(415, "Content-Type must be application/json")
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"Invalid JSON in request body: {exc}") from None
    problems = sb.spec.validator.validate(payload, op.body)
    if problems:
        errors = [
            {"detail": p.message, "source": {"pointer": p.pointer or "/"}, "title": "Invalid value"} for p in problems
        ]
        raise ApiError(422, problems[0].message, errors=errors)
    return payload


# -- helpers ------------------------------------------------------------------------------------------


def _get(collection: dict[str, dict], record_id: str, what: str) -> dict:
    record = collection.get(record_id)
    if record is None:
        raise ApiError(404, f"{what} not found")
    return record


def _one(status: int, data: Any) -> Reply:
    return json_reply(status, {"data": data})


def _no_content() -> Reply:
    return Reply(204)


def _sorted(items: list[dict], sort: str | None) -> list[dict]:
    if not sort:
        return items
    field, _, direction = sort.rpartition("_")
    if field == "owner":
        field = "_owner_id"

    def key(record: dict) -> tuple:
        value = record.get(field)
        return (value is None, value.lower() if isinstance(value, str) else value or 0)

    return sorted(items, key=key, reverse=direction == "desc")


def _paginate(sb: "Sandbox", req: ApiRequest, items: list[dict], draw: Callable[[dict], dict]) -> Reply:
    items = _sorted(items, req.query.get("sort"))
    start = _cursor_offset(req.query.get("after"), items) if req.query.get("after") else 0
    page = items[start : start + req.query.get("page_size", 50)]
    end = start + len(page)
    next_link = None
    if end < len(items):
        cursor = base64.urlsafe_b64encode(json.dumps({"o": end, "id": page[-1]["id"]}).encode()).decode().rstrip("=")
        next_link = f"{req.path}?after={cursor}"
    body: dict[str, Any] = {"data": [draw(r) for r in page], "links": {"next": next_link}}
    if req.query.get("include_total_count"):
        body["total_count"] = len(items)
    return json_reply(200, body)


def _cursor_offset(cursor: str, items: list[dict]) -> int:
    """The position after the cursor's last item (by id, so deletions do not skip items), else its offset."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, last_id = int(decoded["o"]), str(decoded["id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(422, "Invalid cursor in after") from None
    for index, record in enumerate(items):
        if record["id"] == last_id:
            return index + 1
    return offset


def _now(sb: "Sandbox") -> str:
    return sb.clock.iso()


def _folder(sb: "Sandbox", folder_id: str) -> dict:
    return _get(sb.state.folders, folder_id, "Folder")


def _file(sb: "Sandbox", file_id: str) -> dict:
    return _get(sb.state.files, file_id, "File")


def _emit(sb: "Sandbox", event: str, record: dict, resource_type: str | None = None) -> None:
    if resource_type == "project":
        sb.emit(event, "project", record["id"], project_id=record["id"], workspace_id=record["workspace_id"])
    else:
        sb.emit(event, resource_type or record.get("type", "file"), record["id"], project_id=record.get("project_id"))


# -- me, accounts, workspaces ----------------------------------------------------------------------------


def users_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _one(200, render.profile(sb, req.user_id))


def accounts_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _paginate(sb, req, list(sb.state.accounts.values()), lambda a: render.account(sb, a))


def workspaces_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    items = [w for w in sb.state.workspaces.values() if w["account_id"] == req.params["account_id"]]
    return _paginate(sb, req, items, lambda w: render.workspace(sb, w, req.include))


def workspaces_create(sb: "Sandbox", req: ApiRequest) -> Reply:
    now = _now(sb)
    record = {
        "id": new_id(),
        "name": req.data.get("name") or "Untitled workspace",
        "account_id": req.params["account_id"],
        "created_at": now,
        "updated_at": now,
        "_creator_id": req.user_id,
    }
    sb.state.workspaces[record["id"]] = record
    return _one(201, render.workspace(sb, record))


def workspaces_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _one(
        200, render.workspace(sb, _get(sb.state.workspaces, req.params["workspace_id"], "Workspace"), req.include)
    )


# -- projects ---------------------------------------------------------------------------------------------


def projects_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    _get(sb.state.workspaces, req.params["workspace_id"], "Workspace")
    items = [p for p in sb.state.projects.values() if p["workspace_id"] == req.params["workspace_id"]]
    return _paginate(sb, req, items, lambda p: render.project(sb, p, req.include))


def account_projects_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _paginate(sb, req, list(sb.state.projects.values()), lambda p: render.project(sb, p, req.include))


def invited_projects_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _paginate(sb, req, [], lambda p: p)  # the sandbox's one user belongs to every project


def projects_create(sb: "Sandbox", req: ApiRequest) -> Reply:
    workspace = _get(sb.state.workspaces, req.params["workspace_id"], "Workspace")
    now, project_id, root_id = _now(sb), new_id(), new_id()
    name = req.data["name"]
    root = {
        "id": root_id,
        "name": name,
        "type": "folder",
        "parent_id": None,
        "project_id": project_id,
        "created_at": now,
        "updated_at": now,
        "_creator_id": req.user_id,
    }
    project = {
        "id": project_id,
        "name": name,
        "workspace_id": workspace["id"],
        "root_folder_id": root_id,
        "status": "active",
        "restricted": bool(req.data.get("restricted", False)),
        "created_at": now,
        "updated_at": now,
        "_creator_id": req.user_id,
    }
    sb.state.folders[root_id] = root
    sb.state.projects[project_id] = project
    _emit(sb, "project.created", project, "project")
    return _one(201, render.project(sb, project))


def projects_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _one(200, render.project(sb, _get(sb.state.projects, req.params["project_id"], "Project"), req.include))


def projects_update(sb: "Sandbox", req: ApiRequest) -> Reply:
    project = _get(sb.state.projects, req.params["project_id"], "Project")
    project.update(req.data, updated_at=_now(sb))
    _emit(sb, "project.updated", project, "project")
    return _one(200, render.project(sb, project))


def projects_delete(sb: "Sandbox", req: ApiRequest) -> Reply:
    project = _get(sb.state.projects, req.params["project_id"], "Project")
    sb.state.delete_asset(project["root_folder_id"])
    del sb.state.projects[project["id"]]
    for share_id in [s["id"] for s in sb.state.shares.values() if s["_project_id"] == project["id"]]:
        del sb.state.shares[share_id]
    _emit(sb, "project.deleted", project, "project")
    return _no_content()


# -- folders ----------------------------------------------------------------------------------------------


def folders_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _one(200, render.folder(sb, _folder(sb, req.params["folder_id"]), req.include))


def folders_update(sb: "Sandbox", req: ApiRequest) -> Reply:
    folder = _folder(sb, req.params["folder_id"])
    folder.update(req.data, updated_at=_now(sb))
    _emit(sb, "folder.updated", folder)
    return _one(200, render.folder(sb, folder))


def folders_delete(sb: "Sandbox", req: ApiRequest) -> Reply:
    folder = _folder(sb, req.params["folder_id"])
    if folder["parent_id"] is None:
        raise ApiError(422, "The root folder of a project cannot be deleted")
    sb.state.delete_asset(folder["id"])
    _emit(sb, "folder.deleted", folder)
    return _no_content()


def folders_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    _folder(sb, req.params["folder_id"])
    items = sb.state.children(req.params["folder_id"])
    if "type" in req.query:
        wanted = {t.strip() for t in req.query["type"].split(",")}
        items = [a for a in items if a["type"] in wanted]
    return _paginate(sb, req, items, lambda a: render.asset(sb, a, req.include))


def folders_list(sb: "Sandbox", req: ApiRequest) -> Reply:
    _folder(sb, req.params["folder_id"])
    items = [a for a in sb.state.children(req.params["folder_id"]) if a["type"] == "folder"]
    return _paginate(sb, req, items, lambda a: render.folder(sb, a, req.include))


def folders_create(sb: "Sandbox", req: ApiRequest) -> Reply:
    parent = _folder(sb, req.params["folder_id"])
    if not req.data.get("name"):
        raise ApiError(422, "Missing field: name", "/data/name")
    now = _now(sb)
    folder = {
        "id": new_id(),
        "name": req.data["name"],
        "type": "folder",
        "parent_id": None,
        "project_id": parent["project_id"],
        "created_at": now,
        "updated_at": now,
        "_creator_id": req.user_id,
    }
    sb.state.folders[folder["id"]] = folder
    sb.state.attach(folder, parent["id"])
    _emit(sb, "folder.created", folder)
    return _one(201, render.folder(sb, folder))


def folders_move(sb: "Sandbox", req: ApiRequest) -> Reply:
    folder = _folder(sb, req.params["folder_id"])
    target = _folder(sb, _required_parent(req))
    ancestor: dict | None = target
    while ancestor is not None:
        if ancestor["id"] == folder["id"]:
            raise ApiError(422, "A folder cannot be moved into itself or one of its subfolders", "/data/parent_id")
        ancestor = sb.state.folders.get(ancestor["parent_id"] or "")
    if target["project_id"] != folder["project_id"]:
        raise ApiError(422, "The sandbox only moves folders within their project", "/data/parent_id")
    sb.state.attach(folder, target["id"])
    folder["updated_at"] = _now(sb)
    _emit(sb, "folder.updated", folder)
    return _one(200, render.folder(sb, folder))


def _required_parent(req: ApiRequest) -> str:
    if not req.data.get("parent_id"):
        raise ApiError(422, "Missing field: parent_id", "/data/parent_id")
    return req.data["parent_id"]


# -- files ------------------------------------------------------------------------------------------------


def files_list(sb: "Sandbox", req: ApiRequest) -> Reply:
    _folder(sb, req.params["folder_id"])
    items = [a for a in sb.state.children(req.params["folder_id"]) if a["type"] == "file"]
    return _paginate(sb, req, items, lambda a: render.file(sb, a, req.include))


def files_create_local_upload(sb: "Sandbox", req: ApiRequest) -> Reply:
    parent = _folder(sb, req.params["folder_id"])
    now, file_id = _now(sb), new_id()
    name, size = req.data["name"], req.data["file_size"]
    media_type = uploads.media_type_for(name)
    plan = uploads.plan_parts(size, sb.config.upload_part_size, sb.config.max_upload_parts)
    record = {
        "id": file_id,
        "name": name,
        "type": "file",
        "parent_id": None,
        "project_id": parent["project_id"],
        "created_at": now,
        "updated_at": now,
        "file_size": size,
        "media_type": media_type,
        "status": "created",
        "_creator_id": req.user_id,
        "_plan": plan,
        "_parts": {},
        "_uploaded_at": None,
        "_upload_completed_at": None,
        "_upload_failed": False,
        "_fps": None,
    }
    sb.state.files[file_id] = record
    sb.state.attach(record, parent["id"])
    _emit(sb, "file.created", record)
    urls = [{"size": s, "url": uploads.part_url(sb, file_id, i, media_type)} for i, s in enumerate(plan, 1)]
    return _one(201, {**render.file(sb, record), "upload_urls": urls})


def files_create_remote_upload(sb: "Sandbox", req: ApiRequest) -> Reply:
    """The file is created at once ("created"); the sandbox then fetches `source_url` itself (remote.py)."""
    parent = _folder(sb, req.params["folder_id"])
    try:
        remote.check_source(sb, req.data["source_url"])
    except remote.RemoteRefused as exc:
        raise ApiError(422, str(exc), "/data/source_url") from None
    now, file_id, name = _now(sb), new_id(), req.data["name"]
    record = {
        "id": file_id,
        "name": name,
        "type": "file",
        "parent_id": None,
        "project_id": parent["project_id"],
        "created_at": now,
        "updated_at": now,
        "file_size": 0,  # known once fetched
        "media_type": uploads.media_type_for(name),
        "status": "created",
        "_creator_id": req.user_id,
        "_plan": [],
        "_parts": {},
        "_uploaded_at": None,
        "_upload_completed_at": None,
        "_upload_failed": False,
        "_fps": None,
        "_source_url": req.data["source_url"],
    }
    sb.state.files[file_id] = record
    sb.state.attach(record, parent["id"])
    _emit(sb, "file.created", record)
    remote.start_fetch(sb, file_id, req.data["source_url"])
    links = {"status": f"/v4/accounts/{req.params['account_id']}/files/{file_id}/status"}
    return json_reply(202, {"data": render.file(sb, record), "links": links})


def files_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _one(200, render.file(sb, _file(sb, req.params["file_id"]), req.include))


def files_update(sb: "Sandbox", req: ApiRequest) -> Reply:
    record = _file(sb, req.params["file_id"])
    record.update(req.data, updated_at=_now(sb))
    _emit(sb, "file.updated", record)
    return _one(200, render.file(sb, record))


def files_delete(sb: "Sandbox", req: ApiRequest) -> Reply:
    record = _file(sb, req.params["file_id"])
    stack_id = record["parent_id"] if record["parent_id"] in sb.state.version_stacks else None
    sb.state.delete_asset(record["id"])
    if stack_id and not sb.state.children(stack_id):
        sb.state.delete_asset(stack_id)
    _emit(sb, "file.deleted", record)
    return _no_content()


def files_show_file_upload_status(sb: "Sandbox", req: ApiRequest) -> Reply:
    record = _file(sb, req.params["file_id"])
    return _one(
        200,
        {
            "id": record["id"],
            "filetype": record["media_type"],
            "upload_complete": record["status"] != "created",
            "upload_failed": bool(record["_upload_failed"]),
            "uploaded_at": record["_uploaded_at"],
            "upload_completed_at": record["_upload_completed_at"],
        },
    )


def files_move(sb: "Sandbox", req: ApiRequest) -> Reply:
    """Into a folder, or into a version stack, where the file becomes the new head version."""
    record = _file(sb, req.params["file_id"])
    parent_id = _required_parent(req)
    target = sb.state.folders.get(parent_id) or sb.state.version_stacks.get(parent_id)
    if target is None:
        raise ApiError(404, "Parent folder or version stack not found")
    old_parent = record["parent_id"]
    sb.state.attach(record, target["id"])
    record.update(project_id=target["project_id"], updated_at=_now(sb))
    if old_parent in sb.state.version_stacks and not sb.state.children(old_parent):
        sb.state.delete_asset(old_parent)
    if target["type"] == "version_stack":
        target["updated_at"] = record["updated_at"]
        _emit(sb, "file.versioned", record)
    else:
        _emit(sb, "file.updated", record)
    return _one(200, render.file(sb, record))


# -- version stacks ---------------------------------------------------------------------------------------


def version_stacks_create(sb: "Sandbox", req: ApiRequest) -> Reply:
    folder = _folder(sb, req.params["folder_id"])
    members = []
    for index, file_id in enumerate(req.data["file_ids"]):
        record = sb.state.files.get(file_id)
        if record is None or record["parent_id"] != folder["id"]:
            raise ApiError(422, f"File {file_id} is not in folder {folder['id']}", f"/data/file_ids/{index}")
        members.append(record)
    now = _now(sb)
    stack = {
        "id": new_id(),
        "name": members[-1]["name"],
        "type": "version_stack",
        "parent_id": None,
        "project_id": folder["project_id"],
        "created_at": now,
        "updated_at": now,
        "_creator_id": req.user_id,
    }
    sb.state.version_stacks[stack["id"]] = stack
    sb.state.attach(stack, folder["id"])
    for record in members:
        sb.state.attach(record, stack["id"])
        record["updated_at"] = now
    _emit(sb, "file.versioned", members[-1])
    return _one(201, render.version_stack(sb, stack, req.include))


def version_stacks_move(sb: "Sandbox", req: ApiRequest) -> Reply:
    stack = _get(sb.state.version_stacks, req.params["version_stack_id"], "Version stack")
    target = _folder(sb, _required_parent(req))
    if target["project_id"] != stack["project_id"]:
        raise ApiError(422, "The sandbox only moves version stacks within their project", "/data/parent_id")
    sb.state.attach(stack, target["id"])
    stack["updated_at"] = _now(sb)
    return _one(200, render.version_stack(sb, stack))


def version_stacks_list(sb: "Sandbox", req: ApiRequest) -> Reply:
    _folder(sb, req.params["folder_id"])
    items = [a for a in sb.state.children(req.params["folder_id"]) if a["type"] == "version_stack"]
    return _paginate(sb, req, items, lambda a: render.version_stack(sb, a, req.include))


def version_stacks_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    stack = _get(sb.state.version_stacks, req.params["version_stack_id"], "Version stack")
    return _one(200, render.version_stack(sb, stack, req.include))


def version_stacks_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    _get(sb.state.version_stacks, req.params["version_stack_id"], "Version stack")
    items = sb.state.children(req.params["version_stack_id"])
    return _paginate(sb, req, items, lambda a: render.asset(sb, a, req.include))


# -- comments ---------------------------------------------------------------------------------------------


def comments_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    record = _file(sb, req.params["file_id"])
    items = [c for c in sb.state.comments.values() if c["file_id"] == record["id"]]
    as_tc = req.query.get("timestamp_as_timecode", False)
    return _paginate(sb, req, items, lambda c: render.comment(sb, c, as_tc, req.include))


def comments_create(sb: "Sandbox", req: ApiRequest) -> Reply:
    record = _file(sb, req.params["file_id"])
    data = req.data
    if data.get("attachments"):
        raise ApiError(422, "The Frame.io sandbox does not emulate comment attachments", "/data/attachments")
    now = _now(sb)
    comment = {
        "id": new_id(),
        "file_id": record["id"],
        "text": data["text"],
        "timestamp": None,
        "duration": None,
        "page": data.get("page"),
        "anchor": data.get("anchor"),
        "annotation": data.get("annotation"),
        "text_review_annotation": data.get("text_review_annotation"),
        "links": [],
        "mentions": [],
        "attachments": [],
        "completed_at": None,
        "completer_id": None,
        "text_edited_at": None,
        "created_at": now,
        "updated_at": now,
        "_owner_id": req.user_id,
    }
    _apply_comment_fields(sb, req, record, comment)
    sb.state.comments[comment["id"]] = comment
    _emit(sb, "comment.created", {**comment, "project_id": record["project_id"]}, "comment")
    if comment["completed_at"]:
        _emit(sb, "comment.completed", {**comment, "project_id": record["project_id"]}, "comment")
    return _one(201, render.comment(sb, comment, req.query.get("timestamp_as_timecode", False)))


def _apply_comment_fields(sb: "Sandbox", req: ApiRequest, file_record: dict, comment: dict) -> None:
    """timestamp / duration / links / completed from a create or update body."""
    data = req.data
    if "timestamp" in data:
        comment["timestamp"] = _frame(sb, req, file_record, data["timestamp"])
    if "duration" in data:
        if data["duration"] is not None and comment["timestamp"] is None:
            raise ApiError(422, "duration needs a timestamp", "/data/duration")
        comment["duration"] = data["duration"]
    for key in ("text", "page", "anchor", "annotation", "text_review_annotation"):
        if key in data:
            comment[key] = data[key]
    if "links" in data:
        text = comment["text"]
        comment["links"] = [
            {**link, "text": text[link["start_index"] : link["end_index"]]} for link in data["links"] or []
        ]
    if data.get("completed") is True and not comment["completed_at"]:
        comment.update(completed_at=_now(sb), completer_id=req.user_id)
    elif data.get("completed") is False:
        comment.update(completed_at=None, completer_id=None)


def _frame(sb: "Sandbox", req: ApiRequest, file_record: dict, value: Any) -> int | None:
    """A timestamp as a frame number (from 1); timecode strings need timestamp_as_timecode=true."""
    if value is None:
        return None
    kind = (file_record["media_type"] or "").split("/")[0]
    if kind not in ("video", "audio") and file_record["media_type"] != "application/vnd.apple.mpegurl":
        raise ApiError(422, "timestamp is only allowed on audio, stream and video files", "/data/timestamp")
    if isinstance(value, str):
        if not req.query.get("timestamp_as_timecode"):
            raise ApiError(
                422, "timestamp is a frame number; send timestamp_as_timecode=true for timecode", "/data/timestamp"
            )
        try:
            return timecode_to_frame(value, render.file_fps(sb, file_record["id"]))
        except ValueError as exc:
            raise ApiError(422, str(exc), "/data/timestamp") from None
    return value


def comments_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    comment = _get(sb.state.comments, req.params["comment_id"], "Comment")
    return _one(200, render.comment(sb, comment, req.query.get("timestamp_as_timecode", False), req.include))


def comments_update(sb: "Sandbox", req: ApiRequest) -> Reply:
    comment = _get(sb.state.comments, req.params["comment_id"], "Comment")
    file_record = sb.state.files[comment["file_id"]]
    was_completed = bool(comment["completed_at"])
    _apply_comment_fields(sb, req, file_record, comment)
    comment["updated_at"] = _now(sb)
    if "text" in req.data:
        comment["text_edited_at"] = comment["updated_at"]
    event_record = {**comment, "project_id": file_record["project_id"]}
    _emit(sb, "comment.updated", event_record, "comment")
    if bool(comment["completed_at"]) != was_completed:
        _emit(sb, "comment.completed" if comment["completed_at"] else "comment.uncompleted", event_record, "comment")
    return _one(200, render.comment(sb, comment, req.query.get("timestamp_as_timecode", False)))


def comments_delete(sb: "Sandbox", req: ApiRequest) -> Reply:
    comment = _get(sb.state.comments, req.params["comment_id"], "Comment")
    del sb.state.comments[comment["id"]]
    project_id = sb.state.files.get(comment["file_id"], {}).get("project_id")
    _emit(sb, "comment.deleted", {**comment, "project_id": project_id}, "comment")
    return _no_content()


# -- metadata -------------------------------------------------------------------------------------------


def metadata_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    record = _file(sb, req.params["file_id"])
    fields = render.metadata_fields(sb, record["id"], req.query.get("show_null", False))
    return _one(200, {"file_id": record["id"], "metadata": fields})


def field_definitions_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    items = list(sb.state.field_definitions.values())
    return _paginate(sb, req, items, lambda d: render.field_definition(sb, d, req.include))


# What a created definition's configuration holds when the body leaves it out: the spec's defaults, and the
# fields its answer requires (a toggle's color, the custom members of a user field).
_FIELD_CONFIGURATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "select": {"enable_add_new": True},
    "select_multi": {"enable_add_new": True},
    "toggle": {"color": None},
    "user_single": {"custom_members": []},
    "user_multi": {"custom_members": []},
}


def field_definitions_create(sb: "Sandbox", req: ApiRequest) -> Reply:
    # The spec does not require `data` at the top of this body (every other body does), nor a
    # field_configuration for text, number, date... fields: what it leaves out is answered, never a 500.
    if "data" not in (req.body or {}):
        raise ApiError(422, "Missing field: data", "/data")
    data, now = req.data, _now(sb)
    configuration = {
        **_FIELD_CONFIGURATION_DEFAULTS.get(data["field_type"], {}),
        **json.loads(json.dumps(data.get("field_configuration") or {})),
    }
    definition = {
        "id": new_id(),
        "name": data["name"],
        "field_type": data["field_type"],
        "field_configuration": configuration,
        "mutable": True,
        "creator_id": req.user_id,
        "created_at": now,
        "updated_at": now,
    }
    for option in definition["field_configuration"].get("options", []):
        option.setdefault("id", new_id())
    sb.state.field_definitions[definition["id"]] = definition
    sb.emit("customfield.created", "customfield", definition["id"])
    return _one(201, render.field_definition(sb, definition))


def field_definitions_delete(sb: "Sandbox", req: ApiRequest) -> Reply:
    definition = _get(sb.state.field_definitions, req.params["field_definition_id"], "Field definition")
    if not definition["mutable"]:
        raise ApiError(403, f"{definition['name']} is a built-in field and cannot be deleted")
    del sb.state.field_definitions[definition["id"]]
    for values in sb.state.metadata_values.values():
        values.pop(definition["id"], None)
    sb.emit("customfield.deleted", "customfield", definition["id"])
    return _no_content()


def metadata_bulk_update(sb: "Sandbox", req: ApiRequest) -> Reply:
    project = _get(sb.state.projects, req.params["project_id"], "Project")
    for index, file_id in enumerate(req.data["file_ids"]):
        record = sb.state.files.get(file_id)
        if record is None or record["project_id"] != project["id"]:
            raise ApiError(422, f"File {file_id} not found in project {project['id']}", f"/data/file_ids/{index}")
    updates = {}
    for index, item in enumerate(req.data["values"]):
        definition = sb.state.field_definitions.get(item["field_definition_id"])
        pointer = f"/data/values/{index}"
        if definition is None:
            raise ApiError(
                422, f"Unknown field definition {item['field_definition_id']}", f"{pointer}/field_definition_id"
            )
        updates[definition["id"]] = _field_value(definition, item["value"], f"{pointer}/value")
    for file_id in req.data["file_ids"]:
        sb.state.metadata_values.setdefault(file_id, {}).update(updates)
        _emit(sb, "metadata.value.updated", sb.state.files[file_id], "file")
    return _no_content()


def _field_value(definition: dict, value: Any, pointer: str) -> Any:
    """Check `value` against a field definition; None or [] clears the field."""
    kind, configuration = definition["field_type"], definition["field_configuration"]

    def bad(why: str) -> ApiError:
        return ApiError(422, f"Invalid value for {definition['name']} ({kind}): {why}", pointer)

    if value is None or value == []:
        return None
    if kind in ("select", "select_multi"):
        options = {o["id"] for o in configuration["options"]}
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("expected a list of option ids")
        if kind == "select" and len(value) > 1:
            raise bad("a select field takes one option")
        if unknown := [v for v in value if v not in options]:
            raise bad(f"unknown option id(s) {', '.join(unknown)}")
        return value
    if kind in ("user_single", "user_multi"):
        ok = isinstance(value, list) and all(isinstance(v, dict) and set(v) == {"id", "type"} for v in value)
        if not ok or (kind == "user_single" and len(value) > 1):
            raise bad('expected [{"id": ..., "type": "user" | "account_user_group"}]')
        return value
    checks = {
        "text": lambda v: isinstance(v, str),
        "long_text": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "toggle": lambda v: isinstance(v, bool),
        "date": lambda v: isinstance(v, str) and "T" in v,
        "rating": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= configuration["max_value"],
    }
    if not checks[kind](value):
        raise bad("wrong type or out of range")
    return value


# -- shares -----------------------------------------------------------------------------------------------

_SHARE_DEFAULTS = {
    "enabled": True,
    "commenting_enabled": True,
    "downloading_enabled": False,
    "expiration": None,
    "last_viewed_at": None,
    "passphrase": None,
}


def shares_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    _get(sb.state.projects, req.params["project_id"], "Project")
    items = [s for s in sb.state.shares.values() if s["_project_id"] == req.params["project_id"]]
    return _paginate(sb, req, items, lambda s: render.share(sb, s))


def shares_create(sb: "Sandbox", req: ApiRequest) -> Reply:
    project = _get(sb.state.projects, req.params["project_id"], "Project")
    data = dict(req.data)
    asset_ids = data.pop("asset_ids", [])
    for index, asset_id in enumerate(asset_ids):
        asset = sb.state.asset(asset_id)
        if asset is None or asset["project_id"] != project["id"]:
            raise ApiError(422, f"Asset {asset_id} not found in project {project['id']}", f"/data/asset_ids/{index}")
    data.pop("type", None)
    now = _now(sb)
    share = {
        **_SHARE_DEFAULTS,
        **data,
        "id": new_id(),
        "collection_id": new_id(),
        "created_at": now,
        "updated_at": now,
        "_project_id": project["id"],
        "_asset_ids": list(asset_ids),
        "_slug": secrets.token_urlsafe(6),
    }
    sb.state.shares[share["id"]] = share
    sb.emit("share.created", "share", share["id"], project_id=project["id"])
    return _one(201, render.share(sb, share))


def shares_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _one(200, render.share(sb, _get(sb.state.shares, req.params["share_id"], "Share")))


def shares_update(sb: "Sandbox", req: ApiRequest) -> Reply:
    share = _get(sb.state.shares, req.params["share_id"], "Share")
    share.update(req.data, updated_at=_now(sb))
    sb.emit("share.updated", "share", share["id"], project_id=share["_project_id"])
    return _one(200, render.share(sb, share))


def shares_delete(sb: "Sandbox", req: ApiRequest) -> Reply:
    share = _get(sb.state.shares, req.params["share_id"], "Share")
    del sb.state.shares[share["id"]]
    sb.emit("share.deleted", "share", share["id"], project_id=share["_project_id"])
    return _no_content()


def shares_add_asset(sb: "Sandbox", req: ApiRequest) -> Reply:
    share = _get(sb.state.shares, req.params["share_id"], "Share")
    asset = sb.state.asset(req.data["asset_id"])
    if asset is None or asset["project_id"] != share["_project_id"]:
        raise ApiError(422, "Asset not found in the share's project", "/data/asset_id")
    if asset["id"] not in share["_asset_ids"]:
        share["_asset_ids"].append(asset["id"])
    share["updated_at"] = _now(sb)
    return _one(200, {**render.share(sb, share), "asset_added": asset["id"]})


def shares_remove_asset(sb: "Sandbox", req: ApiRequest) -> Reply:
    share = _get(sb.state.shares, req.params["share_id"], "Share")
    if req.params["asset_id"] not in share["_asset_ids"]:
        raise ApiError(404, "Asset not in this share")
    share["_asset_ids"].remove(req.params["asset_id"])
    share["updated_at"] = _now(sb)
    return _one(200, {**render.share(sb, share), "asset_removed": req.params["asset_id"]})


def shares_list_assets(sb: "Sandbox", req: ApiRequest) -> Reply:
    share = _get(sb.state.shares, req.params["share_id"], "Share")
    items = [a for a in (sb.state.asset(i) for i in share["_asset_ids"]) if a is not None]
    return _paginate(sb, req, items, lambda a: render.asset(sb, a, req.include))


# -- webhooks ---------------------------------------------------------------------------------------------


def _check_events(events: list[str]) -> None:
    for index, event in enumerate(events):
        if event not in EVENTS:
            raise ApiError(422, f"Unknown event: {event}", f"/data/events/{index}")


def webhooks_index(sb: "Sandbox", req: ApiRequest) -> Reply:
    _get(sb.state.workspaces, req.params["workspace_id"], "Workspace")
    items = [w for w in sb.state.webhooks.values() if w["workspace_id"] == req.params["workspace_id"]]
    return _paginate(sb, req, items, lambda w: render.webhook(sb, w, req.include))


def webhooks_create(sb: "Sandbox", req: ApiRequest) -> Reply:
    workspace = _get(sb.state.workspaces, req.params["workspace_id"], "Workspace")
    _check_events(req.data["events"])
    now = _now(sb)
    webhook = {
        "id": new_id(),
        "name": req.data["name"],
        "url": req.data["url"],
        "events": list(req.data["events"]),
        "active": True,
        "workspace_id": workspace["id"],
        "created_at": now,
        "updated_at": now,
        "_secret": secrets.token_urlsafe(32),
        "_creator_id": req.user_id,
    }
    sb.state.webhooks[webhook["id"]] = webhook
    return _one(201, render.webhook(sb, webhook, with_secret=True))


def webhooks_show(sb: "Sandbox", req: ApiRequest) -> Reply:
    return _one(200, render.webhook(sb, _get(sb.state.webhooks, req.params["webhook_id"], "Webhook"), req.include))


def webhooks_update(sb: "Sandbox", req: ApiRequest) -> Reply:
    webhook = _get(sb.state.webhooks, req.params["webhook_id"], "Webhook")
    if "events" in req.data:
        _check_events(req.data["events"])
    webhook.update(req.data, updated_at=_now(sb))
    return _one(200, render.webhook(sb, webhook))


def webhooks_delete(sb: "Sandbox", req: ApiRequest) -> Reply:
    webhook = _get(sb.state.webhooks, req.params["webhook_id"], "Webhook")
    del sb.state.webhooks[webhook["id"]]
    return _no_content()


HANDLERS: dict[str, Callable[["Sandbox", ApiRequest], Reply]] = {
    "users.show": users_show,
    "accounts.index": accounts_index,
    "workspaces.index": workspaces_index,
    "workspaces.create": workspaces_create,
    "workspaces.show": workspaces_show,
    "projects.index": projects_index,
    "account_projects.index": account_projects_index,
    "invited_projects.index": invited_projects_index,
    "projects.create": projects_create,
    "projects.show": projects_show,
    "projects.update": projects_update,
    "projects.delete": projects_delete,
    "folders.show": folders_show,
    "folders.update": folders_update,
    "folders.delete": folders_delete,
    "folders.index": folders_index,
    "folders.list": folders_list,
    "folders.create": folders_create,
    "folders.move": folders_move,
    "files.list": files_list,
    "files.create_local_upload": files_create_local_upload,
    "files.create_remote_upload": files_create_remote_upload,
    "files.show": files_show,
    "files.update": files_update,
    "files.delete": files_delete,
    "files.show_file_upload_status": files_show_file_upload_status,
    "files.move": files_move,
    "version_stacks.create": version_stacks_create,
    "version_stacks.list": version_stacks_list,
    "version_stacks.move": version_stacks_move,
    "version_stacks.show": version_stacks_show,
    "version_stacks.index": version_stacks_index,
    "comments.index": comments_index,
    "comments.create": comments_create,
    "comments.show": comments_show,
    "comments.update": comments_update,
    "comments.delete": comments_delete,
    "metadata.show": metadata_show,
    "metadata.field_definitions.index": field_definitions_index,
    "metadata.field_definitions.create": field_definitions_create,
    "metadata.field_definitions.delete": field_definitions_delete,
    "metadata.bulk_update": metadata_bulk_update,
    "shares.index": shares_index,
    "shares.create": shares_create,
    "shares.show": shares_show,
    "shares.update": shares_update,
    "shares.delete": shares_delete,
    "shares.add_asset": shares_add_asset,
    "shares.list_assets": shares_list_assets,
    "shares.remove_asset": shares_remove_asset,
    "webhooks.index": webhooks_index,
    "webhooks.create": webhooks_create,
    "webhooks.show": webhooks_show,
    "webhooks.update": webhooks_update,
    "webhooks.delete": webhooks_delete,
}
