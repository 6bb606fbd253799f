"""The Frame.io sandbox's API over real HTTP: envelopes, errors, pagination, rate limits, comments,
metadata, version stacks, shares, webhooks' secrets, persistence. Every answer of the `api` fixture is
also checked against the responses of the OpenAPI spec (the repository's copy, openapi_responses.json)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from frameio_sandbox import SandboxConfig, run_sandbox, spec_extract
from frameio_sandbox.server import Sandbox
from frameio_sandbox.state import STATUS_FIELD_ID
from tests.frameio_sandbox import openapi_slice
from tests.frameio_sandbox.harness import FULL_SPEC, SandboxApi, SpecChecker, put_parts

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checker():
    return SpecChecker()


@pytest.fixture
def sandbox():
    with run_sandbox(SandboxConfig(transcode_delay=0.05, seed=7)) as running:
        yield running


@pytest.fixture
def api(sandbox, checker):
    checker.problems.clear()
    yield SandboxApi(sandbox, checker=checker)
    assert checker.problems == []


def make_project(api, name="Film") -> dict:
    response = api.post(f"/workspaces/{api.sandbox.workspace_id}/projects", {"name": name})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def make_file(api, folder_id: str, name="shot.mov", payload: bytes | None = None) -> dict:
    size = len(payload) if payload is not None else 10
    response = api.post(f"/folders/{folder_id}/files/local_upload", {"name": name, "file_size": size})
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    if payload is not None:
        assert all(r.status_code == 200 for r in put_parts(data, payload))
    return data


# -- envelopes and errors -----------------------------------------------------------------------------


def test_me_accounts_and_workspaces_use_the_data_envelope(sandbox, api):
    me = api.get("/v4/me")
    assert me.status_code == 200
    assert set(me.json()) == {"data"}
    assert me.json()["data"]["id"] == sandbox.user_id

    accounts = api.get("/v4/accounts").json()
    assert accounts["links"] == {"next": None}
    assert [a["id"] for a in accounts["data"]] == [sandbox.account_id]

    workspaces = api.get("/workspaces").json()["data"]
    assert sandbox.workspace_id in [w["id"] for w in workspaces]
    assert api.get(f"/workspaces/{sandbox.workspace_id}").json()["data"]["account_id"] == sandbox.account_id


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc"])
def test_missing_or_unknown_token_is_401_in_the_error_envelope(sandbox, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(f"{sandbox.base_url}/v4/me", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["errors"][0]["detail"]
    assert response.headers["x-ratelimit-limit"] == "100"


def test_expired_token_is_401(sandbox):
    api = SandboxApi(sandbox, token=sandbox.issue_token(ttl=60))
    assert api.get("/v4/me").status_code == 200
    sandbox.advance_clock(61)
    response = api.get("/v4/me")
    assert response.status_code == 401
    assert response.json() == {"errors": [{"detail": "Token expired", "title": "Unauthorized"}]}


def test_unknown_field_is_422_with_a_pointer(api):
    response = api.post(f"/workspaces/{api.sandbox.workspace_id}/projects", {"name": "Film", "colour": "red"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"detail": "Unexpected field: colour", "source": {"pointer": "/data/colour"}, "title": "Invalid value"}
    ]
    # and nothing was created half-way
    assert api.get("/projects").json()["data"] == []


def test_missing_field_wrong_type_and_broken_json(api):
    path = f"/workspaces/{api.sandbox.workspace_id}/projects"
    missing = api.post(path, {"restricted": True})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["source"]["pointer"] == "/data/name"
    wrong_type = api.post(path, {"name": 42})
    assert wrong_type.status_code == 422
    top_level = api.post(path, json={"name": "Film"})  # the data envelope is required on requests too
    assert top_level.status_code == 422
    broken = api.session.post(api.url(path), data=b"{nope", headers={"Content-Type": "application/json"}, timeout=5)
    assert broken.status_code == 400
    assert "errors" in broken.json()


def test_not_found_and_not_emulated(api, sandbox):
    assert api.get("/folders/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("/v4/nowhere").json() == {"errors": [{"detail": "Not found", "title": "Not found"}]}
    other_account = requests.get(
        f"{sandbox.base_url}/v4/accounts/00000000-0000-0000-0000-000000000000/workspaces",
        headers=api.session.headers,
        timeout=5,
    )
    assert other_account.status_code == 404
    search = api.post("/search", {"query": "x"})
    assert search.status_code == 501
    assert "search.search" in search.json()["errors"][0]["detail"]


def test_invalid_query_parameters_are_422(api):
    project = make_project(api)
    children = f"/folders/{project['root_folder_id']}/children"
    assert api.get(children, params={"page_size": 0}).status_code == 422
    assert api.get(children, params={"page_size": 501}).status_code == 422  # AssetRequestPageSize: max 500
    assert api.get("/projects", params={"page_size": 101}).status_code == 422  # RequestPageSize: max 100
    assert api.get(children, params={"sort": "colour_asc"}).status_code == 422
    assert api.get(children, params={"include": "creator,nonsense"}).status_code == 422


# -- projects and folders -------------------------------------------------------------------------------


def test_project_create_show_and_list(api, sandbox):
    project = make_project(api, "Le Film")
    assert project["status"] == "active"
    shown = api.get(f"/projects/{project['id']}", params={"include": "owner"}).json()["data"]
    assert shown["root_folder_id"] == project["root_folder_id"]
    assert shown["owner"]["id"] == sandbox.user_id
    listed = api.get(f"/workspaces/{sandbox.workspace_id}/projects").json()["data"]
    assert [p["id"] for p in listed] == [project["id"]]
    assert [p["id"] for p in api.get("/projects").json()["data"]] == [project["id"]]
    root = api.get(f"/folders/{project['root_folder_id']}").json()["data"]
    assert root["parent_id"] is None and root["type"] == "folder" and root["project_id"] == project["id"]


def test_folders_create_rename_move_delete(api):
    project = make_project(api)
    root = project["root_folder_id"]
    a = api.post(f"/folders/{root}/folders", {"name": "A"}).json()["data"]
    b = api.post(f"/folders/{root}/folders", {"name": "B"}).json()["data"]
    assert a["parent_id"] == root
    assert api.patch(f"/folders/{a['id']}", {"name": "A2"}).json()["data"]["name"] == "A2"
    moved = api.patch(f"/folders/{b['id']}/move", {"parent_id": a["id"]})
    assert moved.json()["data"]["parent_id"] == a["id"]
    assert api.patch(f"/folders/{a['id']}/move", {"parent_id": b["id"]}).status_code == 422  # into its own child
    assert [f["name"] for f in api.get(f"/folders/{root}/folders").json()["data"]] == ["A2"]
    make_file(api, b["id"])
    assert api.delete(f"/folders/{a['id']}").status_code == 204
    assert api.get(f"/folders/{b['id']}").status_code == 404  # the subtree went with it
    assert api.delete(f"/folders/{root}").status_code == 422


def test_children_pagination_over_250_items(api, sandbox):
    sandbox.config.rate_limits = False  # 250 creations would take a minute at 5 uploads/s
    project = make_project(api)
    root = project["root_folder_id"]
    created = [make_file(api, root, name=f"shot_{i:03d}.mov")["id"] for i in range(240)]
    created += [api.post(f"/folders/{root}/folders", {"name": f"dir_{i}"}).json()["data"]["id"] for i in range(10)]
    path = f"/folders/{root}/children"

    seen, pages, url = [], [], path
    params = {"page_size": 100, "include_total_count": "true"}
    while url:
        body = api.get(url, params=params).json()
        pages.append(len(body["data"]))
        assert body["total_count"] == 250
        seen += [item["id"] for item in body["data"]]
        url = body["links"]["next"]
        if url:
            assert url.startswith(f"/v4/accounts/{sandbox.account_id}/folders/{root}/children?after=")
            assert "page_size" not in url  # links.next carries only the cursor
    assert pages == [100, 100, 50]
    assert seen == created

    # Following links.next as is falls back to the default page size of 50.
    first = api.get(path, params={"page_size": 100}).json()
    assert len(api.get(first["links"]["next"]).json()["data"]) == 50

    # A deletion between pages does not make the cursor skip an item.
    api.delete(f"/files/{created[10]}")
    second = api.get(first["links"]["next"], params={"page_size": 100}).json()["data"]
    assert second[0]["id"] == created[100]

    only_folders = api.get(path, params={"type": "folder"}).json()["data"]
    assert len(only_folders) == 10
    by_name = api.get(path, params={"sort": "name_desc", "page_size": 3}).json()["data"]
    assert [item["name"] for item in by_name] == ["shot_239.mov", "shot_238.mov", "shot_237.mov"]


# -- rate limits ----------------------------------------------------------------------------------------


def test_rate_limit_headers_and_429(api, sandbox):
    first = api.get("/v4/me")
    assert first.headers["x-ratelimit-limit"] == "100"
    assert first.headers["x-ratelimit-window"] == "60000"
    remaining = [int(api.get("/v4/me").headers["x-ratelimit-remaining"]) for _ in range(99)]
    assert remaining[0] == 98 and remaining[-1] <= 1
    limited = api.get("/v4/me")
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.json()["errors"][0]["detail"].startswith("Rate limit exceeded")
    # per account_user and per endpoint
    service = SandboxApi(sandbox, token=sandbox.issue_token(["openid"], user_id=sandbox.service_user_id))
    assert service.get("/v4/me").status_code == 200
    assert api.get("/v4/accounts").status_code == 200
    # switchable off, live
    sandbox.config.rate_limits = False
    assert api.get("/v4/me").status_code == 200


def test_rate_limit_is_a_leaky_bucket(api):
    project = make_project(api)
    create = f"/folders/{project['root_folder_id']}/folders"
    statuses = [api.post(create, {"name": f"f{i}"}).status_code for i in range(4)]  # 3 calls per second
    assert statuses == [201, 201, 201, 429]
    time.sleep(0.4)  # a third of a second leaks one call out of the bucket
    assert api.post(create, {"name": "later"}).status_code == 201


# -- files, version stacks --------------------------------------------------------------------------------


def test_file_show_update_move_and_delete(api, sandbox):
    project = make_project(api)
    root = project["root_folder_id"]
    sub = api.post(f"/folders/{root}/folders", {"name": "Dailies"}).json()["data"]
    created = make_file(api, root, "A001.mov")
    assert created["status"] == "created" and created["media_type"] == "video/quicktime"
    assert api.patch(f"/files/{created['id']}", {"name": "A001_v2.mov"}).json()["data"]["name"] == "A001_v2.mov"
    moved = api.patch(f"/files/{created['id']}/move", {"parent_id": sub["id"]}).json()["data"]
    assert moved["parent_id"] == sub["id"]
    assert [f["id"] for f in api.get(f"/folders/{sub['id']}/files").json()["data"]] == [created["id"]]
    included = api.get(f"/folders/{sub['id']}/children", params={"include": "creator,project,metadata"}).json()["data"]
    assert included[0]["creator"]["id"] == sandbox.user_id and included[0]["project"]["id"] == project["id"]
    page = requests.get(moved["view_url"], timeout=5)  # view_url leads to a page of the sandbox
    assert page.status_code == 200 and "A001_v2.mov" in page.text
    assert api.patch(f"/files/{created['id']}/move", {"parent_id": "nope"}).status_code == 404
    assert api.delete(f"/files/{created['id']}").status_code == 204
    assert api.get(f"/files/{created['id']}").status_code == 404
    assert [e["type"] for e in sandbox.state.events if e["resource"]["id"] == created["id"]] == [
        "file.created",
        "file.updated",
        "file.updated",
        "file.deleted",
    ]


def test_version_stacks(api, sandbox):
    project = make_project(api)
    root = project["root_folder_id"]
    v1, v2, v3 = (make_file(api, root, f"SH010_v{i}.mov") for i in (1, 2, 3))
    assert api.post(f"/folders/{root}/version_stacks", {"file_ids": [v1["id"]]}).status_code == 422  # 2..10
    created = api.post(f"/folders/{root}/version_stacks", {"file_ids": [v1["id"], v2["id"]]})
    assert created.status_code == 201
    stack = created.json()["data"]
    assert stack["type"] == "version_stack" and stack["head_version"]["id"] == v2["id"]
    children = api.get(f"/version_stacks/{stack['id']}/children").json()["data"]
    assert [c["id"] for c in children] == [v1["id"], v2["id"]]
    assert {c["type"] for c in api.get(f"/folders/{root}/children").json()["data"]} == {"file", "version_stack"}

    # a new version: move it into the stack, it becomes the head
    assert api.patch(f"/files/{v3['id']}/move", {"parent_id": stack["id"]}).status_code == 200
    assert api.get(f"/version_stacks/{stack['id']}").json()["data"]["head_version"]["id"] == v3["id"]
    assert api.get(f"/folders/{root}/version_stacks").json()["data"][0]["id"] == stack["id"]
    sub = api.post(f"/folders/{root}/folders", {"name": "Sub"}).json()["data"]
    assert (
        api.patch(f"/version_stacks/{stack['id']}/move", {"parent_id": sub["id"]}).json()["data"]["parent_id"]
        == sub["id"]
    )
    assert api.get(f"/version_stacks/{stack['id']}/children").json()["data"][-1]["id"] == v3["id"]
    other = api.post(f"/folders/{root}/folders", {"name": "x"}).json()["data"]
    outsider = make_file(api, other["id"])
    refused = api.post(f"/folders/{root}/version_stacks", {"file_ids": [v1["id"], outsider["id"]]})
    assert refused.status_code == 422
    assert [e["type"] for e in sandbox.state.events].count("file.versioned") == 2


# -- comments -----------------------------------------------------------------------------------------------


def test_comment_timestamps_are_frames_from_one(api, sandbox):
    project = make_project(api)
    clip = make_file(api, project["root_folder_id"], "SH010_v001.mov")
    comments = f"/files/{clip['id']}/comments"

    first = api.post(comments, {"text": "first frame", "timestamp": 1})
    assert first.status_code == 201
    assert first.json()["data"]["timestamp"] == 1
    tc = api.post(
        comments, {"text": "one second in", "timestamp": "00:00:01:00"}, params={"timestamp_as_timecode": "true"}
    )
    assert tc.status_code == 201
    assert tc.json()["data"]["timestamp"] == "00:00:01:00"
    assert api.get(f"/comments/{tc.json()['data']['id']}").json()["data"]["timestamp"] == 26  # 25 fps, from 1

    as_timecode = api.get(comments, params={"timestamp_as_timecode": "true"}).json()["data"]
    assert [c["timestamp"] for c in as_timecode] == ["00:00:00:00", "00:00:01:00"]
    sandbox.set_file_fps(clip["id"], 24)
    assert api.get(comments, params={"timestamp_as_timecode": "true"}).json()["data"][1]["timestamp"] == "00:00:01:01"

    assert api.post(comments, {"text": "x", "timestamp": "00:00:01:00"}).status_code == 422  # timecode needs the flag
    bad_frame = api.post(comments, {"text": "x", "timestamp": "00:00:01:30"}, params={"timestamp_as_timecode": "true"})
    assert bad_frame.status_code == 422
    assert api.post(comments, {"text": "x", "duration": 10}).status_code == 422  # duration needs a timestamp
    assert api.post(comments, {"text": ""}).status_code == 422
    still = make_file(api, project["root_folder_id"], "board.jpg")
    assert api.post(f"/files/{still['id']}/comments", {"text": "x", "timestamp": 1}).status_code == 422
    assert api.post(f"/files/{still['id']}/comments", {"text": "on a still"}).status_code == 201


def test_comment_list_show_update_complete_delete(api, sandbox):
    project = make_project(api)
    clip = make_file(api, project["root_folder_id"])
    comment = api.post(f"/files/{clip['id']}/comments", {"text": "fix the sky", "timestamp": 12, "duration": 5}).json()[
        "data"
    ]
    listed = api.get(f"/files/{clip['id']}/comments", params={"include": "owner,replies"}).json()["data"]
    assert listed[0]["owner"]["id"] == sandbox.user_id and listed[0]["replies"] == []
    done = api.patch(f"/comments/{comment['id']}", {"completed": True}).json()["data"]
    assert done["completed_at"] and done["completer_id"] == sandbox.user_id
    edited = api.patch(f"/comments/{comment['id']}", {"text": "fix the sky, please"}).json()["data"]
    assert edited["text_edited_at"] is not None
    assert api.delete(f"/comments/{comment['id']}").status_code == 204
    assert api.get(f"/comments/{comment['id']}").status_code == 404
    types = [e["type"] for e in sandbox.state.events if e["resource"]["type"] == "comment"]
    assert types == ["comment.created", "comment.updated", "comment.completed", "comment.updated", "comment.deleted"]


# -- metadata ---------------------------------------------------------------------------------------------


def test_status_field_and_bulk_update(api, sandbox):
    definitions = api.get("/metadata/field_definitions").json()["data"]
    status = next(d for d in definitions if d["name"] == "Status")
    assert status["field_type"] == "select"
    names = [o["display_name"] for o in status["field_configuration"]["options"]]
    assert names == ["Needs Review", "In Progress", "Approved", "Needs Changes"]
    approved = next(o["id"] for o in status["field_configuration"]["options"] if o["display_name"] == "Approved")
    assert approved == sandbox.state.status_option_id("Approved")

    project = make_project(api)
    a, b = (make_file(api, project["root_folder_id"], f"{n}.mov") for n in "ab")
    values = f"/projects/{project['id']}/metadata/values"
    update = {"file_ids": [a["id"], b["id"]], "values": [{"field_definition_id": status["id"], "value": [approved]}]}
    response = api.patch(values, update)
    assert response.status_code == 204 and response.content == b""
    shown = api.get(f"/files/{a['id']}/metadata").json()["data"]
    status_value = next(m for m in shown["metadata"] if m["field_definition_name"] == "Status")
    assert status_value["value"] == [{"id": approved, "display_name": "Approved"}]
    included = api.get(f"/files/{b['id']}", params={"include": "metadata"}).json()["data"]["metadata"]
    assert any(m["field_definition_id"] == status["id"] and m["value"][0]["id"] == approved for m in included)
    assert [e["type"] for e in sandbox.state.events].count("metadata.value.updated") == 2

    def refused(value, file_ids=(a["id"],), field_id=status["id"]):
        body = {"file_ids": list(file_ids), "values": [{"field_definition_id": field_id, "value": value}]}
        return api.patch(values, body).status_code

    assert refused(["not-an-option"]) == 422
    assert refused([approved, sandbox.state.status_option_id("In Progress")]) == 422  # select takes one
    assert refused([approved], field_id="00000000-0000-0000-0000-000000000000") == 422
    other = make_project(api, "Other")
    stranger = make_file(api, other["root_folder_id"])
    assert refused([approved], file_ids=[stranger["id"]]) == 422


def test_field_definition_create(api):
    created = api.post(
        "/metadata/field_definitions",
        {"name": "Vendor", "field_type": "select", "field_configuration": {"options": [{"display_name": "DNEG"}]}},
    )
    assert created.status_code == 201
    assert created.json()["data"]["field_configuration"]["options"][0]["id"]
    bad = api.post("/metadata/field_definitions", {"name": "X", "field_type": "select", "field_configuration": {}})
    assert bad.status_code == 422
    assert api.delete(f"/metadata/field_definitions/{created.json()['data']['id']}").status_code == 204
    assert api.delete(f"/metadata/field_definitions/{STATUS_FIELD_ID}").status_code == 403  # built-in
    assert STATUS_FIELD_ID in [d["id"] for d in api.get("/metadata/field_definitions").json()["data"]]


# -- shares and webhooks ------------------------------------------------------------------------------------


def test_shares(api, sandbox):
    project = make_project(api)
    clip = make_file(api, project["root_folder_id"])
    shares = f"/projects/{project['id']}/shares"
    created = api.post(
        shares, {"type": "asset", "name": "Client review", "access": "public", "asset_ids": [clip["id"]]}
    )
    assert created.status_code == 201
    share = created.json()["data"]
    assert share["short_url"].startswith(sandbox.base_url) and share["enabled"] is True
    assert requests.get(share["short_url"], timeout=5).status_code == 200
    assert api.post(shares, {"type": "presentation", "name": "x", "access": "public"}).status_code == 422
    second = make_file(api, project["root_folder_id"], "b.mov")
    added = api.post(f"/shares/{share['id']}/assets", {"asset_id": second["id"]})
    assert added.json()["data"]["asset_added"] == second["id"]
    assert len(api.get(f"/shares/{share['id']}/assets").json()["data"]) == 2
    removed = api.delete(f"/shares/{share['id']}/assets/{second['id']}")
    assert removed.json()["data"]["asset_removed"] == second["id"]
    assert [s["id"] for s in api.get(shares).json()["data"]] == [share["id"]]
    assert api.delete(f"/shares/{share['id']}").status_code == 204


def test_webhook_secret_is_returned_once(api, sandbox):
    hooks = f"/workspaces/{sandbox.workspace_id}/webhooks"
    created = api.post(hooks, {"name": "postflow", "url": "http://127.0.0.1:9/hook", "events": ["file.ready"]})
    assert created.status_code == 201
    hook = created.json()["data"]
    assert hook["secret"] and hook["active"] is True
    assert "secret" not in api.get(f"/webhooks/{hook['id']}").json()["data"]
    assert "secret" not in api.get(hooks).json()["data"][0]
    assert api.patch(f"/webhooks/{hook['id']}", {"active": False}).json()["data"]["active"] is False
    assert api.post(hooks, {"name": "x", "url": "http://127.0.0.1:9/", "events": ["file.exploded"]}).status_code == 422
    assert api.delete(f"/webhooks/{hook['id']}").status_code == 204


# -- the spec checker itself, persistence, the command ---------------------------------------------------------


def test_spec_checker_rejects_a_wrong_answer(checker):
    schema = checker.schema_for("GET", "/v4/me", 200)
    assert checker.validator.validate({"data": {"id": "x", "name": "n", "email": "e"}}, schema)
    schema = checker.schema_for("GET", "/v4/accounts/a/folders/f/children", 200)
    bad_file = {"data": [{"type": "file", "id": "x"}], "links": {"next": None}}
    assert checker.validator.validate(bad_file, schema)
    # A repaired schema still refuses what the spec refuses: FileWithIncludes takes no unknown property.
    schema = checker.schema_for("GET", "/v4/accounts/a/files/f", 200)
    assert any(
        e.message == "Unexpected field: colour" for e in checker.validator.validate({"data": {"colour": 1}}, schema)
    )


def test_spec_checker_checks_status_headers_and_body(sandbox, checker):
    api = SandboxApi(sandbox, checker=SpecChecker())
    me = api.get("/v4/me")
    assert api.checker.checked == {"GET 200 users.show": 1} and api.checker.problems == []
    assert api.checker.validator.validate(me.json(), checker.schema_for("GET", "/v4/me", 200)) == []
    assert api.get("/projects/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.checker.checked["GET 404 projects.show"] == 1 and api.checker.problems == []

    me.headers["x-ratelimit-remaining"] = "-1"
    del me.headers["x-ratelimit-window"]
    me._content = json.dumps({"data": {"id": "x"}}).encode()
    problems = [f"{e.pointer}: {e.message}" for e in api.checker.check(me)]
    assert "headers/x-ratelimit-window: Missing header: x-ratelimit-window" in problems
    assert "headers/x-ratelimit-remaining: Value must be at least 0" in problems
    assert "/data/email: Missing field: email" in problems


def test_spec_slices_are_made_from_the_committed_compact_spec():
    """spec.json and openapi_responses.json are what `python -m tests.frameio_sandbox.openapi_slice` makes from
    openapi_compact.json; with ../shared, that slice (and so both) is what the full spec gives."""
    text = openapi_slice.COMPACT.read_text()
    compact = json.loads(text)
    for path, made in openapi_slice.derived(compact).items():
        assert path.read_text() == made, f"{path.name} is not made from openapi_compact.json: regenerate it"
    assert len(json.loads(openapi_slice.SPEC_JSON.read_text())["operations"]) == 97
    sha256 = compact["info"]["x-source-sha256"]
    assert openapi_slice.render_compact(openapi_slice.compact(compact, sha256)) == text  # nothing more to cut
    if FULL_SPEC.exists():  # an extra where the full spec is at hand (not in a clean clone)
        raw = FULL_SPEC.read_bytes()
        assert hashlib.sha256(raw).hexdigest() == sha256, f"{FULL_SPEC} changed: regenerate the slices from it"
        full = json.loads(raw)
        assert openapi_slice.render_compact(openapi_slice.compact(full, sha256)) == text
        assert json.loads(openapi_slice.SPEC_JSON.read_text()) == spec_extract.extract(full)


def test_state_survives_a_restart(tmp_path):
    config = SandboxConfig(state_file=tmp_path / "state.json", data_dir=tmp_path / "data", transcode_delay=0.05)
    with run_sandbox(config) as first:
        token = first.issue_token()
        api = SandboxApi(first, token=token)
        project = make_project(api, "Kept")
        clip = make_file(api, project["root_folder_id"], payload=b"0123456789")
    saved = json.loads((tmp_path / "state.json").read_text())
    assert project["id"] in saved["projects"]
    with run_sandbox(config) as second:
        api = SandboxApi(second, token=token)  # tokens are kept too
        assert api.get(f"/projects/{project['id']}").json()["data"]["name"] == "Kept"
        second.wait_for(lambda: second.state.files[clip["id"]]["status"] == "transcoded")
        assert second.state.file_content(clip["id"]) == b"0123456789"


def test_sandbox_object_without_context_manager():
    sandbox = Sandbox(SandboxConfig()).start()
    try:
        assert requests.get(f"{sandbox.base_url}/", timeout=5).status_code == 200
    finally:
        sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sandbox.base_url}/", timeout=2)


def test_path_prefix():
    with run_sandbox(SandboxConfig(path_prefix="/frameio-sandbox")) as sandbox:
        assert sandbox.base_url.endswith("/frameio-sandbox")
        api = SandboxApi(sandbox, checker=SpecChecker())
        project = make_project(api)
        upload = make_file(api, project["root_folder_id"], payload=b"abc")
        assert upload["upload_urls"][0]["url"].startswith(f"{sandbox.base_url}/s3/")
        assert api.checker.checked == {"POST 201 projects.create": 1, "POST 201 files.create_local_upload": 1}
        assert api.checker.problems == []
        sandbox.wait_for(lambda: sandbox.state.files[upload["id"]]["status"] != "created")


def test_command_refuses_a_bad_port():
    with pytest.raises(CommandError, match="not a TCP port"):
        call_command("frameio_sandbox", "--port", "70000")


def test_command_serves_until_sigterm(tmp_path):
    state = tmp_path / "sandbox.json"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "frameio_sandbox", "--port", "0", "--state", str(state)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline()
        assert "Frame.io sandbox on http://127.0.0.1:" in line, process.stderr.read()
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert requests.get(f"{base_url}/v4/me", timeout=5).status_code == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
    assert "workspaces" in json.loads(state.read_text())
