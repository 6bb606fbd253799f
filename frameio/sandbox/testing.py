"""Helpers for tests that talk to a running sandbox over HTTP (imports `requests`; the server does not).

api = SandboxApi(sandbox)
project = api.post(f"/workspaces/{sandbox.workspace_id}/projects", {"name": "Film"}).json()["data"]
upload = api.post(f"/folders/{project['root_folder_id']}/files/local_upload", {"name": "a.mov", "file_size": 3})
put_parts(upload.json()["data"], b"abc")
"""

import json
from pathlib import Path
from typing import Any

import requests

from frameio.sandbox.routing import load_spec
from frameio.sandbox.schema import SchemaError, Validator
from frameio.sandbox.server import Sandbox

# Where the full Frame.io OpenAPI spec lives in this workplace: ../shared beside the repository.
FULL_SPEC = Path(__file__).resolve().parents[3] / "shared" / "frameio-openapi" / "openapi-v4.json"


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
            self.checker.check(response)
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
    """Validates sandbox answers against the response schemas of the full Frame.io OpenAPI spec."""

    def __init__(self, spec_path: Path = FULL_SPEC):
        self.spec = json.loads(spec_path.read_text())
        self.validator = Validator(self.spec["components"]["schemas"])
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}

    def schema_for(self, method: str, path: str, status: int) -> dict | None:
        match = load_spec().match(method, path)
        if match is None:
            return None
        responses = self.spec["paths"][match[0].path][method.lower()]["responses"]
        content = responses.get(str(status), {}).get("content", {})
        return content.get("application/json", {}).get("schema")

    def check(self, response: requests.Response) -> list[SchemaError]:
        request = response.request
        path = requests.utils.urlparse(request.url).path
        schema = self.schema_for(request.method, path, response.status_code)
        if schema is None or not response.content:
            return []
        errors = self.validator.validate(response.json(), schema)
        key = f"{request.method} {response.status_code} {load_spec().match(request.method, path)[0].operation_id}"
        self.checked[key] = self.checked.get(key, 0) + 1
        self.problems += [f"{key}: {e.pointer}: {e.message}" for e in errors]
        return errors
