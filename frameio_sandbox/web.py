"""Read-only HTML pages behind the sandbox's `view_url` and share `short_url` links, and an index page,
so that a "view on Frame.io" link in postflow leads somewhere when it points at the sandbox."""

from html import escape
from typing import TYPE_CHECKING

from frameio_sandbox import render, uploads
from frameio_sandbox.replies import Reply

if TYPE_CHECKING:
    from frameio_sandbox.server import Sandbox


def page(sb: "Sandbox", path: str) -> Reply | None:
    parts = path.strip("/").split("/")
    with sb.state.lock:
        if path == "/":
            return _index(sb)
        if len(parts) == 2 and parts[0] == "project" and parts[1] in sb.state.projects:
            project = sb.state.projects[parts[1]]
            return _page(project["name"], _tree(sb, project["root_folder_id"]))
        if len(parts) == 4 and parts[0] == "project" and parts[2] == "view" and sb.state.asset(parts[3]):
            return _asset(sb, sb.state.asset(parts[3]))
        if len(parts) == 2 and parts[0] == "s":
            share = next((s for s in sb.state.shares.values() if s["_slug"] == parts[1]), None)
            if share is not None:
                items = "".join(_asset_line(sb, a) for a in map(sb.state.asset, share["_asset_ids"]) if a)
                return _page(share.get("name") or "Share", f"<ul>{items}</ul>")
    return None


def _page(title: str, body: str) -> Reply:
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)} · Frame.io sandbox</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}td,th{padding:.2em .8em;text-align:left}"
        "</style></head>"
        f"<body><p><a href='/'>Frame.io sandbox</a></p><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Reply(200, html.encode(), "text/html; charset=utf-8")


def _index(sb: "Sandbox") -> Reply:
    projects = "".join(
        f"<li><a href='{escape(sb.base_url)}/project/{p['id']}'>{escape(p['name'])}</a></li>"
        for p in sb.state.projects.values()
    )
    body = (
        "<p>A local emulator of the Frame.io v4 API and Adobe IMS. Nothing here leaves this machine.</p>"
        f"<table><tr><th>API</th><td>{escape(sb.base_url)}/v4</td></tr>"
        f"<tr><th>IMS</th><td>{escape(sb.base_url)}/ims</td></tr>"
        f"<tr><th>Account</th><td>{sb.account_id}</td></tr><tr><th>Workspace</th><td>{sb.workspace_id}</td></tr>"
        f"</table><h2>Projects</h2><ul>{projects or '<li>none yet</li>'}</ul>"
    )
    return _page("Frame.io sandbox", body)


def _asset_line(sb: "Sandbox", asset: dict) -> str:
    url = f"{sb.base_url}/project/{asset['project_id']}/view/{asset['id']}"
    status = f" — {asset['status']}" if asset["type"] == "file" else f" ({asset['type'].replace('_', ' ')})"
    return f"<li><a href='{escape(url)}'>{escape(asset['name'])}</a>{escape(status)}</li>"


def _tree(sb: "Sandbox", folder_id: str) -> str:
    lines = []
    for child in sb.state.children(folder_id):
        lines.append(_asset_line(sb, child))
        if child["type"] != "file":
            lines.append(_tree(sb, child["id"]))
    return f"<ul>{''.join(lines)}</ul>"


def _asset(sb: "Sandbox", asset: dict) -> Reply:
    if asset["type"] != "file":
        return _page(asset["name"], _tree(sb, asset["id"]))
    rows = [("Status", asset["status"]), ("Size", f"{asset['file_size']:,} bytes"), ("Type", asset["media_type"])]
    for field in render.metadata_fields(sb, asset["id"], show_null=False):
        value = field["value"]
        shown = ", ".join(v.get("display_name", v.get("id", "")) for v in value) if isinstance(value, list) else value
        rows.append((field["field_definition_name"], str(shown)))
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    link = ""
    if asset["status"] != "created":
        link = f"<p><a href='{escape(uploads.download_url(sb, asset, attachment=True))}'>Download original</a></p>"
    comments = sorted(
        (c for c in sb.state.comments.values() if c["file_id"] == asset["id"]), key=lambda c: c["created_at"]
    )
    items = "".join(
        f"<li>{'frame ' + str(c['timestamp']) + ': ' if c['timestamp'] else ''}{escape(c['text'])}</li>"
        for c in comments
    )
    return _page(asset["name"], f"<table>{table}</table>{link}<h2>Comments</h2><ul>{items or '<li>none</li>'}</ul>")
