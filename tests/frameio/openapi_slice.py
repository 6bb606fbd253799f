"""Regenerate `openapi_responses.json`, the response side of the Frame.io v4 OpenAPI spec, for the tests.

    python -m tests.frameio.openapi_slice ../shared/frameio-openapi/openapi-v4.json

The tests must run without `../shared`, so they read this copy: every path and operation of the spec with
its operationId, path parameters and responses (status codes, headers, JSON schemas), the component schemas
those reference, and nothing else. Descriptions, examples, summaries and titles are dropped (but not
properties that happen to be named so); identical response objects and headers are written once under
`components/responses` and `components/headers` and referenced. It is still an OpenAPI 3.0 document that
openapi-core reads (with its spec validator off: the spec repeats one enum value).

Two patterns of the published spec say something under a strict JSON Schema / OAS 3.0.3 reading that the
spec plainly does not mean, and every answer of the real service would fail them; they are repaired, and
only they:

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

OUT = Path(__file__).with_name("openapi_responses.json")
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


def extract(spec: dict, source: str = "") -> dict:
    responses, headers = _Shared("responses"), _Shared("headers")
    paths: dict[str, dict] = {}
    for path, item in spec["paths"].items():
        operations = {}
        for method in _METHODS:
            op = item.get(method)
            if not op:
                continue
            kept: dict = {"operationId": op["operationId"], "responses": {}}
            params = [_strip(p) for p in [*item.get("parameters", []), *op.get("parameters", [])] if p["in"] == "path"]
            if params:
                kept["parameters"] = params
            for status, response in op["responses"].items():
                response = _strip(response)
                if "headers" in response:
                    response["headers"] = {
                        name: headers.ref("RateLimit" if name.startswith("x-ratelimit-") else name, header)
                        for name, header in response["headers"].items()
                    }
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                name = f"{status}-{schema.get('$ref', '').rsplit('/', 1)[-1] or 'inline'}"
                kept["responses"][status] = responses.ref(name, response)
            operations[method] = kept
        paths[path] = operations
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


def main(argv: list[str]) -> None:
    raw = Path(argv[1]).read_bytes()
    source = (
        f"The responses of the Frame.io v4 OpenAPI spec (openapi-v4.json, sha256 {hashlib.sha256(raw).hexdigest()}),"
        " without descriptions and examples, two patterns repaired (see tests/frameio/openapi_slice.py);"
        " regenerate with `python -m tests.frameio.openapi_slice <openapi-v4.json>`"
    )
    OUT.write_text(json.dumps(extract(json.loads(raw), source), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv)
