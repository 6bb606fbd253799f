"""Contract test: the official `frameio` Python SDK (PyPI `frameio` 4.x) against the sandbox.

The SDK authenticates with its own Server-to-Server helper on the sandbox's IMS, then lists accounts and
workspaces, creates a project and a folder, uploads a real file with `FrameioUploader`, reads the upload
status and the file, makes a version stack, creates and lists comments, shares the stack (with the
documented `description`), and pages through 250 children.

Two judges, and a sandbox answer that either of them refuses is a sandbox bug:
- the SDK's typed models, made strict: the SDK itself only `construct`s its models (it accepts anything),
  so every answer is validated again with `model_validate` against the model the SDK returned;
- the OpenAPI spec: every `/v4` answer the SDK receives (status, `x-ratelimit-*` headers, JSON body) is
  validated by openapi-core against the response schemas of `openapi_responses.json`, a copy of the
  response side of the published spec kept in the repository (see openapi_slice.py).

postflow's own app is also called `frameio`, so the SDK is loaded under the name `frameio_sdk`.
"""

import hashlib
import importlib.abc
import importlib.metadata
import importlib.util
import json
import math
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import pydantic
import pytest

from frameio_sandbox.routing import load_spec
from frameio_sandbox.server import Sandbox, SandboxConfig, run_sandbox

httpx = pytest.importorskip("httpx")
openapi_core = pytest.importorskip("openapi_core")
from openapi_core.datatypes import RequestParameters  # noqa: E402
from werkzeug.datastructures import Headers, ImmutableMultiDict  # noqa: E402

SPEC_COPY = Path(__file__).with_name("openapi_responses.json")
SPEC_HOST = "https://api.frame.io"  # the spec's server; requests are matched as if they went there
MiB = 1024 * 1024

# The SDK's own models use pydantic v1 names (`__fields__`) under pydantic 2.
pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")


class _NoRepoFrameio(importlib.abc.MetaPathFinder):
    """The SDK's __init__ ends with `import_module(".upload", "frameio")` (and ".auth"), an absolute name
    that would import postflow's frameio.auth here; refuse those two names while the SDK loads."""

    def find_spec(self, name, path=None, target=None):
        if name in ("frameio.upload", "frameio.auth"):
            raise ImportError(f"{name}: not the SDK's")
        return None


def _load_sdk():
    """The SDK package, imported as `frameio_sdk` (its modules import each other relatively)."""
    if "frameio_sdk" in sys.modules:
        return sys.modules["frameio_sdk"]
    try:
        dist = importlib.metadata.distribution("frameio")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the frameio SDK (PyPI `frameio`) is not installed", allow_module_level=True)
    init = Path(dist.locate_file("frameio/__init__.py"))
    spec = importlib.util.spec_from_file_location("frameio_sdk", init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["frameio_sdk"] = module
    blocker = _NoRepoFrameio()
    sys.meta_path.insert(0, blocker)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["frameio_sdk"]
        raise
    finally:
        sys.meta_path.remove(blocker)
    return module


_load_sdk()
from frameio_sdk import Frameio  # noqa: E402
from frameio_sdk.auth import ServerToServerAuth  # noqa: E402
from frameio_sdk.comments import CreateCommentParamsData  # noqa: E402
from frameio_sdk.core.pagination import SyncPager  # noqa: E402
from frameio_sdk.files import FileCreateLocalUploadParamsData  # noqa: E402
from frameio_sdk.folders import FolderCreateParamsData  # noqa: E402
from frameio_sdk.projects import ProjectParamsData  # noqa: E402
from frameio_sdk.shares import CreateShareParamsData_Asset  # noqa: E402
from frameio_sdk.upload import FrameioUploader  # noqa: E402
from frameio_sdk.version_stacks import VersionStackCreateParamsData  # noqa: E402

# -- openapi-core adapters for httpx -----------------------------------------------------------------------


class _OpenAPIRequest:
    """An httpx request as openapi-core's Request protocol, addressed to the spec's server."""

    def __init__(self, request: "httpx.Request", path_prefix: str = ""):
        url = request.url
        self.host_url = SPEC_HOST
        self.path = url.path.removeprefix(path_prefix) if path_prefix else url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query.decode(), keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class _OpenAPIResponse:
    def __init__(self, status_code: int, headers: dict[str, str], data: bytes):
        self.status_code = status_code
        self.headers = Headers(headers)
        self.content_type = headers.get("content-type", "")
        self.data = data


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    operation_id: str | None
    body: bytes
    headers: dict[str, str]

    def json(self):
        return json.loads(self.body)


@dataclass
class Recorder:
    """An httpx response hook: keeps every exchange the SDK makes and validates each `/v4` answer."""

    openapi: "openapi_core.OpenAPI"
    path_prefix: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    validated: dict[str, int] = field(default_factory=dict)

    def hook(self, response: "httpx.Response") -> None:
        response.read()
        request = response.request
        path = request.url.path.removeprefix(self.path_prefix) if self.path_prefix else request.url.path
        match = load_spec().match(request.method, path) if path.startswith("/v4/") else None
        operation_id = match[0].operation_id if match else None
        exchange = Exchange(
            request.method, path, response.status_code, operation_id, response.content, dict(response.headers)
        )
        self.exchanges.append(exchange)
        if path.startswith("/v4/"):
            self.problems += self.validate(request, exchange)

    def validate(self, request: "httpx.Request", exchange: Exchange) -> list[str]:
        key = f"{exchange.method} {exchange.status} {exchange.operation_id or exchange.path}"
        try:
            self.openapi.validate_response(
                _OpenAPIRequest(request, self.path_prefix),
                _OpenAPIResponse(exchange.status, exchange.headers, exchange.body),
            )
        except Exception as exc:  # openapi-core raises one error that wraps the schema errors
            details = [str(exc)]
            for error in getattr(exc, "schema_errors", None) or getattr(exc.__cause__, "schema_errors", None) or []:
                details.append(f"{'/'.join(map(str, error.absolute_path))}: {error.message}")
            return [f"{key}: {' | '.join(details)}"]
        self.validated[key] = self.validated.get(key, 0) + 1
        return []

    def last(self) -> Exchange:
        return self.exchanges[-1]


def typed(result, recorder: Recorder):
    """The SDK's model of the last answer must validate it, not only be constructed from it (problems are
    collected in `recorder.problems`, with the spec's)."""
    model = result.response if isinstance(result, SyncPager) else result
    exchange = recorder.last()
    assert 200 <= exchange.status < 300, (exchange.status, exchange.body[:500])
    try:
        type(model).model_validate(exchange.json())
    except pydantic.ValidationError as exc:
        recorder.problems.append(f"{exchange.method} {exchange.status} {exchange.operation_id}: SDK model: {exc}")
    return result


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi():
    spec = json.loads(SPEC_COPY.read_text())
    # The published spec repeats one enum value, which the spec validator refuses: switch it off.
    return openapi_core.OpenAPI.from_dict(spec, config=openapi_core.Config(spec_validator_cls=None))


@pytest.fixture
def sandbox():
    config = SandboxConfig(port=0, transcode_delay=0.2, upload_part_size=2_000_000, seed=7)
    with run_sandbox(config) as running:
        yield running


@pytest.fixture
def recorder(openapi, sandbox):
    return Recorder(openapi, path_prefix=sandbox.config.path_prefix.rstrip("/"))


@pytest.fixture
def client(sandbox, recorder):
    http = httpx.Client(timeout=30, event_hooks={"response": [recorder.hook]})
    auth = ServerToServerAuth(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        ims_base_url=sandbox.base_url,
        http_client=http,
    )
    yield Frameio(base_url=sandbox.base_url, token=auth.get_token, httpx_client=http)
    http.close()


def _media_file(path: Path, size: int, seed: int) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def _upload(client, recorder, sandbox: Sandbox, folder_id: str, path: Path):
    upload = typed(
        client.files.create_local_upload(
            sandbox.account_id,
            folder_id,
            data=FileCreateLocalUploadParamsData(name=path.name, file_size=path.stat().st_size),
        ),
        recorder,
    ).data
    progress: list[int] = []
    with path.open("rb") as stream:
        FrameioUploader(upload, stream, on_progress=lambda done, total: progress.append(done)).upload()
    assert progress[-1] == path.stat().st_size
    return upload


# -- the contract ------------------------------------------------------------------------------------------


def test_sdk_drives_the_sandbox(sandbox, client, recorder, tmp_path):
    account_id = sandbox.account_id

    # Accounts and workspaces.
    accounts = typed(client.accounts.index(), recorder)
    assert account_id in [a.id for a in accounts]
    workspaces = typed(client.workspaces.index(account_id), recorder)
    assert sandbox.workspace_id in [w.id for w in workspaces]

    # A project (with its root folder) and a folder in it.
    project = typed(
        client.projects.create(account_id, sandbox.workspace_id, data=ProjectParamsData(name="SDK contract")),
        recorder,
    ).data
    assert project.name == "SDK contract" and project.root_folder_id
    folder = typed(
        client.folders.create(account_id, project.root_folder_id, data=FolderCreateParamsData(name="Dailies")),
        recorder,
    ).data
    assert folder.parent_id == project.root_folder_id and folder.type == "folder"

    # A real file of a few MB, in 3 parts of ceil(size / 3), PUT in parallel by the SDK's uploader.
    media = _media_file(tmp_path / "SH010_v001.mov", 5 * MiB + 12_345, seed=1)
    upload = _upload(client, recorder, sandbox, folder.id, media)
    assert upload.media_type == "video/quicktime"
    size = media.stat().st_size
    chunk = math.ceil(size / 3)
    assert [part.size for part in upload.upload_urls] == [chunk, chunk, size - 2 * chunk]

    with sandbox.state.lock:
        assert sandbox.state.files[upload.id]["status"] in ("uploaded", "transcoded")
    status = typed(client.files.show_file_upload_status(account_id, upload.id), recorder).data
    assert status.upload_complete is True and status.upload_failed is False
    assert sandbox.wait_for(lambda: sandbox.state.files[upload.id]["status"] == "transcoded", timeout=20)

    shown = typed(client.files.show(account_id, upload.id, include="media_links.original"), recorder).data
    assert (shown.status, shown.file_size, shown.name) == ("transcoded", size, media.name)
    assert shown.parent_id == folder.id and shown.project_id == project.id

    # The sandbox holds exactly the bytes of the file: on disk, and behind the media link.
    expected = hashlib.sha256(media.read_bytes()).hexdigest()
    with sandbox.state.lock:
        record = sandbox.state.files[upload.id]
        parts = [Path(record["_parts"][str(n)]["path"]) for n in range(1, len(record["_plan"]) + 1)]
    assert hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest() == expected
    download = httpx.get(shown.media_links.original.download_url, timeout=30)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == expected

    # A second version, then a version stack of both (oldest first: the head is v002).
    second = _upload(client, recorder, sandbox, folder.id, _media_file(tmp_path / "SH010_v002.mov", MiB, seed=2))
    stack = typed(
        client.version_stacks.create(
            account_id, folder.id, data=VersionStackCreateParamsData(file_ids=[upload.id, second.id])
        ),
        recorder,
    ).data
    assert stack.type == "version_stack" and stack.parent_id == folder.id
    versions = typed(client.version_stacks.index(account_id, stack.id), recorder)
    assert sorted(v.id for v in versions) == sorted([upload.id, second.id])
    dailies = typed(client.folders.index(account_id, folder.id), recorder)
    assert [(a.id, a.type) for a in dailies] == [(stack.id, "version_stack")]

    # Comments: a frame number, and a timecode (frame 1 is 00:00:00:00 at the sandbox's 25 fps).
    first = typed(
        client.comments.create(account_id, upload.id, data=CreateCommentParamsData(text="Soften the key", timestamp=1)),
        recorder,
    ).data
    second_comment = typed(
        client.comments.create(
            account_id,
            upload.id,
            data=CreateCommentParamsData(text="Flash frame", timestamp="00:00:02:05"),
            timestamp_as_timecode=True,
        ),
        recorder,
    ).data
    assert (first.text, first.timestamp) == ("Soften the key", 1)
    assert second_comment.timestamp == "00:00:02:05"
    comments = typed(client.comments.index(account_id, upload.id), recorder)
    assert {(c.id, c.text, c.timestamp) for c in comments} == {
        (first.id, "Soften the key", 1),
        (second_comment.id, "Flash frame", 56),
    }

    # Beyond the list: a share with the documented `description`.
    share = typed(
        client.shares.create(
            account_id,
            project.id,
            data=CreateShareParamsData_Asset(
                name="Director review", access="public", asset_ids=[stack.id], description="Cut 3, reel 1"
            ),
        ),
        recorder,
    ).data
    assert (share.name, share.description) == ("Director review", "Cut 3, reel 1")

    # 250 children (files and folders), created without the rate limits, then paged through.
    many = typed(
        client.folders.create(account_id, project.root_folder_id, data=FolderCreateParamsData(name="Many")),
        recorder,
    ).data
    sandbox.config.rate_limits = False
    created = set()
    for n in range(250):
        if n % 5 == 4:
            child = client.folders.create(account_id, many.id, data=FolderCreateParamsData(name=f"Reel {n:03d}"))
        else:
            child = client.files.create_local_upload(
                account_id, many.id, data=FileCreateLocalUploadParamsData(name=f"SH{n:03d}_v001.mov", file_size=1000)
            )
        created.add(typed(child, recorder).data.id)
    sandbox.config.rate_limits = True

    pages, seen = [], []
    for page in client.folders.index(account_id, many.id, page_size=100).iter_pages():
        typed(page, recorder)
        pages.append(len(page.items))
        seen += [item.id for item in page.items]
    assert len(seen) == 250 and set(seen) == created
    # links.next carries only the cursor, and the SDK follows it bare: the later pages have the default 50.
    assert pages == [100, 50, 50, 50]

    # Every /v4 answer the SDK received fits the spec, and the whole list above was checked.
    assert not recorder.problems, "\n".join(dict.fromkeys(recorder.problems))
    operations = {key.split(" ", 2)[2] for key in recorder.validated}
    assert operations >= {
        "accounts.index",
        "workspaces.index",
        "projects.create",
        "folders.create",
        "files.create_local_upload",
        "files.show_file_upload_status",
        "files.show",
        "version_stacks.create",
        "version_stacks.index",
        "folders.index",
        "comments.create",
        "comments.index",
        "shares.create",
    }
    assert all(e.operation_id or not e.path.startswith("/v4/") for e in recorder.exchanges)
    assert [(e.method, e.path, e.status) for e in recorder.exchanges if e.status >= 300] == []  # no silent retries
    assert sandbox.token_calls.get("client_credentials") == 1  # the SDK's IMS helper, once


def _tampered(exchange: Exchange, change=None, drop_header: str | None = None) -> Exchange:
    body = exchange.json()
    if change:
        change(body)
    headers = {k: v for k, v in exchange.headers.items() if k != drop_header}
    return Exchange(
        exchange.method, exchange.path, exchange.status, exchange.operation_id, json.dumps(body).encode(), headers
    )


def test_the_spec_check_is_not_vacuous(sandbox, client, recorder):
    # The validator that passes the sandbox's answers refuses the same answers slightly wrong.
    account_id = sandbox.account_id
    project = client.projects.create(account_id, sandbox.workspace_id, data=ProjectParamsData(name="Tamper")).data
    upload = client.files.create_local_upload(
        account_id, project.root_folder_id, data=FileCreateLocalUploadParamsData(name="A.mov", file_size=10)
    ).data
    client.files.show(account_id, upload.id, include="media_links.original")
    shown = recorder.last()
    client.folders.index(account_id, project.root_folder_id)
    children = recorder.last()
    comment = client.comments.create(account_id, upload.id, data=CreateCommentParamsData(text="Hi", timestamp=3))
    assert comment.data.timestamp == 3
    created = recorder.last()
    assert recorder.problems == []

    def check(exchange: Exchange) -> list[str]:
        return recorder.validate(httpx.Request(exchange.method, f"{sandbox.base_url}{exchange.path}"), exchange)

    refused = {
        "id not a uuid string": _tampered(shown, lambda b: b["data"].update(id=42)),
        "unknown file field": _tampered(shown, lambda b: b["data"].update(bogus=1)),
        "unknown media link field": _tampered(shown, lambda b: b["data"]["media_links"]["original"].update(url="x")),
        "file status outside the enum": _tampered(shown, lambda b: b["data"].update(status="ready")),
        "child without file_size": _tampered(children, lambda b: b["data"][0].pop("file_size")),
        "anchor without x and y": _tampered(created, lambda b: b["data"].update(anchor={})),
        "required field missing": _tampered(created, lambda b: b["data"].pop("text_review_annotation")),
        "no x-ratelimit-limit": _tampered(shown, drop_header="x-ratelimit-limit"),
    }
    assert [name for name, exchange in refused.items() if not check(exchange)] == []
    accepted = _tampered(created, lambda b: b["data"].update(anchor={"x": 0.5, "y": 0.25}))
    assert check(accepted) == []
