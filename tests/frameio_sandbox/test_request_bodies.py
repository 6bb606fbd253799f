"""Every operation the sandbox emulates that takes a request body answers its spec's example, a spec-valid
minimal body (the top level's required fields only: `{}` where the spec does not require `data`), and the
minimal `data` of each of its body's variants, as Frame.io does: never a 500 (issue #15, point 9)."""

import json
from typing import Any

import pytest

from frameio_sandbox import SandboxConfig, run_sandbox
from frameio_sandbox.api import HANDLERS
from frameio_sandbox.schema import Validator
from tests.frameio_sandbox import openapi_examples
from tests.frameio_sandbox.harness import FULL_SPEC, SandboxApi, put_parts

EXAMPLES = json.loads(openapi_examples.OUT.read_text())


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(SandboxConfig(transcode_delay=0.05, seed=11, rate_limits=False)) as running:
        yield running


def _operations_with_bodies() -> list:
    from frameio_sandbox.routing import load_spec

    return [op for op in load_spec().operations if op.body is not None and op.operation_id in HANDLERS]


OPERATIONS = _operations_with_bodies()


def _made(response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()["data"]


def world(api: SandboxApi) -> dict:
    """One of everything a body or a path may name, made through the API."""
    sb = api.sandbox
    project = _made(api.post(f"/workspaces/{sb.workspace_id}/projects", {"name": "Film"}))
    root = project["root_folder_id"]
    folder = _made(api.post(f"/folders/{root}/folders", {"name": "SEQ01"}))
    files = []
    for name in ("a.mov", "b.mov", "c.mov"):
        upload = _made(api.post(f"/folders/{folder['id']}/files/local_upload", {"name": name, "file_size": 3}))
        put_parts(upload, b"abc")
        files.append(upload["id"])
    stack = _made(api.post(f"/folders/{folder['id']}/version_stacks", {"file_ids": files[1:]}))
    comment = _made(api.post(f"/files/{files[0]}/comments", {"text": "tighter"}))
    share = _made(
        api.post(
            f"/projects/{project['id']}/shares",
            {"type": "asset", "name": "s", "access": "public", "asset_ids": [files[0]]},
        )
    )
    hook = _made(
        api.post(
            f"/workspaces/{sb.workspace_id}/webhooks",
            {"name": "h", "url": "https://example.com/hook", "events": ["file.created"]},
        )
    )
    field = _made(api.post("/metadata/field_definitions", {"name": "Shot", "field_type": "text"}))
    return {
        "account_id": sb.account_id,
        "workspace_id": sb.workspace_id,
        "project_id": project["id"],
        "folder_id": folder["id"],
        "parent_id": root,
        "file_id": files[0],
        "file_ids": files,
        "asset_id": files[0],
        "version_stack_id": stack["id"],
        "comment_id": comment["id"],
        "share_id": share["id"],
        "webhook_id": hook["id"],
        "field_definition_id": field["id"],
    }


def minimal(validator: Validator, schema: dict, ids: dict, name: str = "") -> Any:
    """The smallest value `schema` allows: required properties only, the first variant, ids that exist."""
    schema = validator.resolve(schema)
    if "oneOf" in schema or "anyOf" in schema:
        return minimal(validator, (schema.get("oneOf") or schema["anyOf"])[0], ids, name)
    if "allOf" in schema:
        merged: dict = {}
        for branch in schema["allOf"]:
            value = minimal(validator, branch, ids, name)
            merged.update(value if isinstance(value, dict) else {})
        return merged
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        names = list(schema.get("required", []))
        names += [key for key in properties if key not in names][: max(0, schema.get("minProperties", 0) - len(names))]
        return {key: minimal(validator, properties[key], ids, key) for key in names}
    if kind == "array":
        count = max(1, schema.get("minItems", 0))
        if isinstance(ids.get(name), list):
            return ids[name][:count]  # distinct ids (uniqueItems)
        return [minimal(validator, schema.get("items", {}), ids, name.removesuffix("s"))] * count
    if kind == "string":
        return _string(schema, ids, name)
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return None


def _string(schema: dict, ids: dict, name: str) -> str:
    if isinstance(ids.get(name), str):
        return ids[name]
    if name.endswith("_id"):
        return ids["file_id"]
    if schema.get("format") == "uri" or name.endswith("url"):
        return "https://example.com/x"
    if schema.get("format") == "date-time":
        return "2030-01-01T00:00:00Z"
    return "x" * max(1, schema.get("minLength", 1))


def variants(validator: Validator, body_schema: dict) -> list[dict]:
    """The minimal `data` of each variant of the body's `data` (a discriminated oneOf has one per type)."""
    data = validator.resolve(body_schema).get("properties", {}).get("data")
    if data is None:
        return []
    data = validator.resolve(data)
    mapping = (data.get("discriminator") or {}).get("mapping", {})
    if not mapping:
        return [{"schema": data}]
    prop = data["discriminator"]["propertyName"]
    return [{"schema": {"$ref": ref}, "set": {prop: key}} for key, ref in mapping.items()]


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.operation_id for op in OPERATIONS])
def test_spec_bodies_never_answer_500(sandbox, op):
    api = SandboxApi(sandbox)
    ids = world(api)
    validator = sandbox.spec.validator
    bodies = {"example": EXAMPLES[op.operation_id], "minimal": minimal(validator, op.body, ids)}
    for index, variant in enumerate(variants(validator, op.body)):
        data = {**minimal(validator, variant["schema"], ids), **variant.get("set", {})}
        bodies[f"data variant {index}"] = {"data": data}
    path = op.path.format(**ids)
    for label, body in bodies.items():
        if label != "example":  # the examples are the spec's own; the made bodies must be what the spec allows
            assert validator.validate(body, op.body) == [], (label, body)
        response = api.session.request(op.method, api.url(path), json=body, timeout=10)
        assert response.status_code < 500, (label, body, response.text)
        if response.status_code >= 400:  # Frame.io's error envelope, saying what is wrong
            assert response.status_code in (400, 404, 409, 422), (label, body, response.text)
            assert response.json()["errors"][0]["detail"], response.text


def test_a_field_definition_is_created_from_the_bodies_the_spec_allows(sandbox):
    api = SandboxApi(sandbox)
    created = api.post("/metadata/field_definitions", {"name": "Shot", "field_type": "text"})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["name"] == "Shot" and created.json()["data"]["field_type"] == "text"
    empty = api.session.post(api.url("/metadata/field_definitions"), json={}, timeout=10)
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["source"]["pointer"] == "/data"
    select = api.post("/metadata/field_definitions", {"name": "Take", "field_type": "select"})
    assert select.status_code == 422 and "field_configuration" in select.text
    example = api.session.post(
        api.url("/metadata/field_definitions"), json=EXAMPLES["metadata.field_definitions.create"], timeout=10
    )
    assert example.status_code == 201
    assert [o["display_name"] for o in example.json()["data"]["field_configuration"]["options"]] == [
        "Option 1",
        "Option 2",
    ]


def test_the_examples_are_the_specs():
    """openapi_examples.json holds an example for every emulated operation with a body; where the full spec is
    at hand (not in a clean clone), it is what `python -m tests.frameio_sandbox.openapi_examples` makes of it."""
    assert {op.operation_id for op in OPERATIONS} <= set(EXAMPLES)
    if FULL_SPEC.exists():
        made = openapi_examples.render(openapi_examples.extract(json.loads(FULL_SPEC.read_text())))
        assert made == openapi_examples.OUT.read_text()
