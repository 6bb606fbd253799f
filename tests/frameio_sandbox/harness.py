"""Helpers for tests that talk to a running sandbox over HTTP (imports `requests`; the server does not).

api = SandboxApi(sandbox)
project = api.post(f"/workspaces/{sandbox.workspace_id}/projects", {"name": "Film"}).json()["data"]
upload = api.post(f"/folders/{project['root_folder_id']}/files/local_upload", {"name": "a.mov", "file_size": 3})
put_parts(upload.json()["data"], b"abc")
"""

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import requests

from frameio_sandbox.routing import load_spec
from frameio_sandbox.schema import SchemaError, Validator
from frameio_sandbox.server import Sandbox

_REPO = Path(__file__).resolve().parents[2]
# The response side of the Frame.io v4 OpenAPI spec, kept in the repository (see openapi_slice.py, this folder).
RESPONSES_SPEC = _REPO / "tests" / "frameio_sandbox" / "openapi_responses.json"
# Where the full spec lives in this workplace (../shared beside the repository; not in a clean clone).
# Only the tests that compare the repository's slices with it read it; FRAMEIO_OPENAPI_SPEC points elsewhere.
FULL_SPEC = Path(
    os.environ.get("FRAMEIO_OPENAPI_SPEC") or _REPO.parent / "shared" / "frameio-openapi" / "openapi-v4.json"
)


class SandboxApi:
    """A requests session on `{base_url}/v4/accounts/{account_id}` with a bearer token.

    Paths starting with "/v4" are taken as they are (for links.next and /v4/me). With `checker`, every
    answer is passed to it (see `SpecChecker`)."""

    def __init__(self, sandbox: Sandbox, token: str | None = None, checker: "SpecChecker | None" = None):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or sandbox.issue_token()}"
        self.checker = checker

    def url(self, path: str) -> str:
        if path.startswith("/v4"):
            return f"{self.sandbox.base_url}{path}"
        return f"{self.sandbox.base_url}/v4/accounts/{self.sandbox.account_id}{path}"

    def request(self, method: str, path: str, data: Any = None, **kwargs) -> requests.Response:
        if data is not None:
            kwargs["json"] = {"data": data}
        kwargs.setdefault("timeout", 10)
        response = self.session.request(method, self.url(path), **kwargs)
        if self.checker is not None:
            self.checker.check(response, prefix=self.sandbox.config.path_prefix.rstrip("/"))
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs) -> requests.Response:
        return self.request("POST", path, data, **kwargs)

    def patch(self, path: str, data: Any = None, **kwargs) -> requests.Response:
        return self.request("PATCH", path, data, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


def put_parts(upload: dict, payload: bytes, *, session: requests.Session | None = None) -> list[requests.Response]:
    """PUT `payload` to the upload_urls of a local_upload answer, part by part, as the Frame.io docs say."""
    http = session or requests.Session()
    headers = {"Content-Type": upload["media_type"], "x-amz-acl": "private"}
    responses, offset = [], 0
    for part in upload["upload_urls"]:
        chunk = payload[offset : offset + part["size"]]
        offset += part["size"]
        responses.append(http.put(part["url"], data=chunk, headers=headers, timeout=30))
    return responses


class SpecChecker:
    """Checks sandbox answers against the responses of the Frame.io OpenAPI spec: by default the copy in the
    repository (`RESPONSES_SPEC`, with its two documented repairs), or any spec given (e.g. `FULL_SPEC`).

    For an answer to a spec operation with a status the operation lists, the headers it marks required must
    be there and fit their schemas (`x-ratelimit-*`), and the JSON body must fit the schema (a body where the
    spec has none, or none where it has one, is a problem too). Problems are collected in `problems`; `checked`
    counts the answers checked by "METHOD STATUS operationId", `unlisted` those whose status the operation
    does not list (the sandbox's 501 for what it does not emulate)."""

    def __init__(self, spec_path: Path = RESPONSES_SPEC):
        self.spec = json.loads(Path(spec_path).read_text())
        self.validator = Validator(self.spec["components"]["schemas"])
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}
        self.unlisted: dict[str, int] = {}

    def resolve(self, node: dict) -> dict:
        """`node`, or what its local `$ref` points at (responses and headers may be shared in components)."""
        while "$ref" in node:
            target = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def response_for(self, method: str, path: str, status: int) -> dict | None:
        """The spec's response object for `status` of the operation at `path` (None: none listed)."""
        match = load_spec().match(method, path)
        if match is None:
            return None
        responses = self.spec["paths"][match[0].path][method.lower()]["responses"]
        response = responses.get(str(status), responses.get("default"))
        return None if response is None else self.resolve(response)

    def schema_for(self, method: str, path: str, status: int) -> dict | None:
        response = self.response_for(method, path, status) or {}
        return response.get("content", {}).get("application/json", {}).get("schema")

    def check(self, response: requests.Response, prefix: str = "") -> list[SchemaError]:
        request = response.request
        path = requests.utils.urlparse(request.url).path
        if prefix and path.startswith(f"{prefix}/"):
            path = path.removeprefix(prefix)
        match = load_spec().match(request.method, path)
        if match is None:  # not an operation of the spec (the spec says nothing about it)
            return []
        key = f"{request.method} {response.status_code} {match[0].operation_id}"
        expected = self.response_for(request.method, path, response.status_code)
        if expected is None:
            self.unlisted[key] = self.unlisted.get(key, 0) + 1
            return []
        errors = self._check_headers(response, expected)
        schema = expected.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            if response.content:
                errors.append(SchemaError("", "The spec gives this answer no body"))
        elif not response.headers.get("Content-Type", "").startswith("application/json"):
            errors.append(SchemaError("", f"Expected a JSON body, got {response.headers.get('Content-Type')!r}"))
        else:
            errors += self.validator.validate(response.json(), schema)
        self.checked[key] = self.checked.get(key, 0) + 1
        self.problems += [f"{key}: {e.pointer}: {e.message}" for e in errors]
        return errors

    def _check_headers(self, response: requests.Response, expected: dict) -> list[SchemaError]:
        errors = []
        for name, header in expected.get("headers", {}).items():
            header = self.resolve(header)
            value = response.headers.get(name)
            if value is None:
                if header.get("required"):
                    errors.append(SchemaError(f"headers/{name}", f"Missing header: {name}"))
                continue
            schema = header.get("schema", {})
            if self.validator.resolve(schema).get("type") in ("integer", "number"):
                with contextlib.suppress(ValueError):  # otherwise left a string, which the schema refuses
                    value = json.loads(value)
            errors += self.validator.validate(value, schema, f"headers/{name}")
        return errors
