"""What a sandbox endpoint answers, before the HTTP handler writes it."""

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, "application/json; charset=utf-8", dict(headers or {}))


def html_reply(status: int, title: str, message: str) -> Reply:
    from html import escape

    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(message)}</p>"
        "<p><small>Frame.io sandbox (local emulator)</small></p></body></html>"
    )
    return Reply(status, page.encode(), "text/html; charset=utf-8")
