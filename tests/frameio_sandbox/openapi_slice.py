"""The Frame.io v4 OpenAPI spec, in the repository: one compact slice of it and the two files made from it.

    python -m tests.frameio_sandbox.openapi_slice ../shared/frameio-openapi/openapi-v4.json   # all three, from the spec
    python -m tests.frameio_sandbox.openapi_slice                                             # the two, from the slice

The published spec (`../shared/frameio-openapi/openapi-v4.json`, 930 KB) is not in the repository, and the
tests must run without `../shared`. What is kept instead:

- `openapi_compact.json` (this folder): the spec cut down to what the two files below are made of, and
  nothing else, still an OpenAPI 3.0 document that both generators read exactly like the full spec: every
  path and operation with its operationId, the "Rate Limits: ..." sentence of its description (the rest of
  the description goes), its parameters, request body and responses; the component schemas those
  reference. Descriptions, examples, summaries, titles and tags are dropped (but not properties that happen
  to be named so); identical response objects and headers are written once under `components/responses`
  and `components/headers` and referenced. `info.x-source-sha256` is the sha256 of the spec it came from.
  Nothing is repaired here.
- `frameio_sandbox/spec.json`: what the sandbox enforces (operations, rate limits, request bodies and query
  parameters), made by `frameio_sandbox.spec_extract.extract`.
- `openapi_responses.json` (this folder): the response side, made by `extract` below, for the checks of the
  sandbox's answers (`tests.frameio_sandbox.harness.SpecChecker`, and openapi-core in test_sdk_contract.py):
  every path and operation with its operationId, path parameters and responses (status codes, headers, JSON
  schemas), the component schemas those reference, and nothing else. It is an OpenAPI 3.0 document that
  openapi-core reads (with its spec validator off: the spec repeats one enum value).

The tests regenerate both files from the committed slice and compare them with the committed ones; when
`../shared` is there they also compare the slice (and spec.json) with what the full spec gives.

Two patterns of the published spec say something under a strict JSON Schema / OAS 3.0.3 reading that the
spec plainly does not mean, and every answer of the real service would fail them; they are repaired in
`openapi_responses.json`, and only they:

- `additionalProperties: false` beside `allOf` (FileWithIncludes, OriginalMediaLink, RenditionMediaLink,
  the `data` of Add/RemoveAssetResponse): in JSON Schema the sibling `additionalProperties` sees no
  properties at all, so it refuses every property. The repair merges the `allOf` members into one object
  schema (properties and required lists united) that keeps `additionalProperties: false`, which is what the
  schema means: these properties and no others.
- `nullable: true` beside `allOf: [$ref]` (Comment.anchor, Comment.text_review_annotation,
  VersionStackWithIncludes.head_version, two `user`s): OAS 3.0.3 says `nullable` does not reach into the
  `allOf`, so null is refused by the referenced schema, although the property is required and documented as
  null when absent. The repair inlines the merged schema with `nullable: true` on it.
"""

import copy
import hashlib
import json
import sys
from pathlib import Path

from frameio_sandbox import spec_extract

HERE = Path(__file__).parent
COMPACT = HERE / "openapi_compact.json"
OUT = HERE / "openapi_responses.json"
SPEC_JSON = spec_extract.OUT
_DROP = {"description", "example", "examples", "summary", "title", "externalDocs", "tags", "x-codeSamples"}
_METHODS = ("get", "post", "put", "patch", "delete")
_SCHEMAS = "#/components/schemas/"
_MERGEABLE = {"type", "properties", "required", "additionalProperties", "nullable", "allOf", "$ref"}


def _strip(node, properties: bool = False):
    """Drop prose and examples; inside a `properties` map the keys are property names and stay."""
    if isinstance(node, dict):
        return {
            key: _strip(value, properties=key == "properties" and not properties)
            for key, value in node.items()
            if properties or key not in _DROP
        }
    if isinstance(node, list):
        return [_strip(value) for value in node]
    return node


def _refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMAS):
                found.add(value.removeprefix(_SCHEMAS))
            elif key == "mapping" and isinstance(value, dict):
                found.update(v.removeprefix(_SCHEMAS) for v in value.values())
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(roots, schemas: dict) -> list[str]:
    needed: set[str] = set()
    _refs(roots, needed)
    done: set[str] = set()
    while needed - done:
        name = sorted(needed - done)[0]
        done.add(name)
        _refs(schemas[name], needed)
    return sorted(done)


class _Shared:
    """Identical objects written once under a name, referenced everywhere else."""

    def __init__(self, kind: str):
        self.kind, self.items, self._by_body = kind, {}, {}

    def ref(self, name: str, body: dict) -> dict:
        key = json.dumps(body, sort_keys=True)
        if key not in self._by_body:
            unique, n = name, 2
            while unique in self.items:
                unique, n = f"{name}-{n}", n + 1
            self.items[unique] = body
            self._by_body[key] = unique
        return {"$ref": f"#/components/{self.kind}/{self._by_body[key]}"}


def _merged(node: dict, schemas: dict) -> dict:
    """`node` with its $ref followed and its allOf members merged into one object schema."""
    while "$ref" in node:
        node = schemas[node["$ref"].removeprefix(_SCHEMAS)]
    if "allOf" not in node:
        return copy.deepcopy(node)
    out = {key: copy.deepcopy(value) for key, value in node.items() if key != "allOf"}
    properties, required = out.get("properties", {}), list(out.get("required", []))
    for member in node["allOf"]:
        member = _merged(member, schemas)
        if set(member) - _MERGEABLE:
            raise SystemExit(f"cannot merge an allOf member with {sorted(set(member) - _MERGEABLE)}")
        for name, schema in member.get("properties", {}).items():
            same = properties.get(name, schema) == schema
            properties[name] = schema if same else {"allOf": [properties[name], schema]}
        required += [name for name in member.get("required", []) if name not in required]
        if len(node["allOf"]) == 1 and "additionalProperties" in member:  # nullable: true beside one $ref
            out.setdefault("additionalProperties", member["additionalProperties"])
    out.update(type="object", properties=properties)
    if required:
        out["required"] = required
    return out


def _repair(node, schemas: dict):
    """The two repairs of the module docstring, wherever the patterns occur (children first)."""
    if isinstance(node, list):
        return [_repair(value, schemas) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _repair(value, schemas) for key, value in node.items()}
    if "allOf" in node and (node.get("additionalProperties") is False or node.get("nullable") is True):
        return _merged(node, schemas)
    return node


def _resolve(spec: dict, node: dict) -> dict:
    """`node`, or what its local `$ref` points at (the compact slice refers to its shared responses and headers)."""
    while "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _shared_response(spec: dict, status: str, response: dict, responses: _Shared, headers: _Shared) -> dict:
    """A reference to `response` (stripped) among the shared responses, its headers shared too."""
    response = _strip(_resolve(spec, response))
    if "headers" in response:
        response["headers"] = {
            name: headers.ref("RateLimit" if name.startswith("x-ratelimit-") else name, _resolve(spec, header))
            for name, header in response["headers"].items()
        }
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return responses.ref(f"{status}-{schema.get('$ref', '').rsplit('/', 1)[-1] or 'inline'}", response)


def _operations(spec: dict):
    """(path, path item, method, operation) of every operation, in the document's order (which the compact
    slice keeps, so that it names its shared responses as the full spec does)."""
    for path, item in spec["paths"].items():
        for method in _METHODS:
            if item.get(method):
                yield path, item, method, item[method]


def compact(spec: dict, sha256: str) -> dict:
    """The compact slice of `spec` (see the module docstring); `sha256` is that of the spec's file."""
    responses, headers = _Shared("responses"), _Shared("headers")
    paths: dict[str, dict] = {}
    for path, item, method, op in _operations(spec):
        kept_item = paths.setdefault(path, {})
        if item.get("parameters"):
            kept_item["parameters"] = _strip(item["parameters"])
        kept: dict = {"operationId": op["operationId"]}
        rate = spec_extract.RATE.search(op.get("description", ""))
        if rate:
            kept["description"] = rate.group(0)
        if op.get("deprecated"):
            kept["deprecated"] = True
        for key in ("parameters", "requestBody"):
            if op.get(key):
                kept[key] = _strip(op[key])
        kept["responses"] = {
            status: _shared_response(spec, status, response, responses, headers)
            for status, response in op["responses"].items()
        }
        kept_item[method] = kept
    schemas = spec["components"]["schemas"]
    return {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"], "x-source-sha256": sha256},
        "servers": spec["servers"],
        "paths": paths,
        "components": {
            "headers": headers.items,
            "responses": responses.items,
            "schemas": {name: _strip(schemas[name]) for name in _closure([paths, responses.items], schemas)},
        },
    }


def extract(spec: dict, source: str = "") -> dict:
    """The response side of `spec` (the full spec or its compact slice), with the two repairs."""
    responses, headers = _Shared("responses"), _Shared("headers")
    paths: dict[str, dict] = {}
    for path, item, method, op in _operations(spec):
        kept: dict = {"operationId": op["operationId"], "responses": {}}
        params = [_strip(p) for p in [*item.get("parameters", []), *op.get("parameters", [])] if p["in"] == "path"]
        if params:
            kept["parameters"] = params
        for status, response in op["responses"].items():
            kept["responses"][status] = _shared_response(spec, status, response, responses, headers)
        paths.setdefault(path, {})[method] = kept
    roots = list(responses.items.values())
    stripped = {
        name: _strip(spec["components"]["schemas"][name]) for name in _closure(roots, spec["components"]["schemas"])
    }
    # Repair each schema with the unrepaired ones to merge from, then keep those still referenced.
    repaired = {name: _repair(schema, stripped) for name, schema in stripped.items()}
    roots = _repair(roots, stripped)
    info = {"title": spec["info"]["title"], "version": spec["info"]["version"]}
    if source:
        info["x-source"] = source
    return {
        "openapi": spec["openapi"],
        "info": info,
        "servers": spec["servers"],
        "paths": paths,
        "components": {
            "headers": headers.items,
            "responses": dict(zip(responses.items, roots, strict=True)),
            "schemas": {name: repaired[name] for name in _closure(roots, repaired)},
        },
    }


def source_note(sha256: str) -> str:
    return (
        f"The responses of the Frame.io v4 OpenAPI spec (openapi-v4.json, sha256 {sha256}), without descriptions"
        " and examples, two patterns repaired; made from openapi_compact.json by"
        " `python -m tests.frameio_sandbox.openapi_slice` (see tests/frameio_sandbox/openapi_slice.py)"
    )


def render(document: dict) -> str:
    """The text of a generated file: sorted keys, one value a line."""
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def render_compact(document: dict) -> str:
    """The compact slice's text: the spec's order (see `_operations`), one value a line, no indentation."""
    return json.dumps(document, indent=0) + "\n"


def derived(compact_slice: dict) -> dict[Path, str]:
    """The files made from the compact slice, with their text."""
    sha256 = compact_slice["info"]["x-source-sha256"]
    return {
        SPEC_JSON: spec_extract.render(spec_extract.extract(compact_slice)),
        OUT: render(extract(compact_slice, source_note(sha256))),
    }


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raw = Path(argv[1]).read_bytes()
        COMPACT.write_text(render_compact(compact(json.loads(raw), hashlib.sha256(raw).hexdigest())))
        print(f"wrote {COMPACT}")
    for path, text in derived(json.loads(COMPACT.read_text())).items():
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv)
