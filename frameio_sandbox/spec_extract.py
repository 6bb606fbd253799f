"""`spec.json`, the slice of the Frame.io v4 OpenAPI spec that the sandbox enforces.

    python -m tests.frameio_sandbox.openapi_slice [../shared/frameio-openapi/openapi-v4.json]

regenerates it (with the tests' copies of the spec) from the compact slice of the spec kept in the
repository, `tests/frameio_sandbox/openapi_compact.json`, after refreshing that slice from the full spec when one is
given; `python -m frameio_sandbox.spec_extract SPEC` makes it from any spec (the full one or the slice: both
give the same file, which the tests check).

For every operation of the spec it keeps the method, the path template, the operationId, the published
rate limit (parsed from the "Rate Limits: N calls per X second(s)/minute(s)" sentence of the description),
the request-body schema and the query-parameter schemas; plus the component schemas those reference,
without their descriptions and examples. Response schemas stay out: the sandbox builds its answers by
hand and the tests check them against the response side of the spec (tests/frameio_sandbox/openapi_responses.json).
"""

import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).with_name("spec.json")
RATE = re.compile(r"Rate Limits?: (\d+) calls? per ([\d.]+) (second|minute)(?:s|\(s\))?")
_DROP = {"description", "example", "examples", "title", "summary"}
_METHODS = ("get", "post", "put", "patch", "delete")


def _strip(node, properties: bool = False):
    """Drop prose and examples; the keys of a `properties` map are property names (e.g. a share's
    `description`) and stay."""
    if isinstance(node, dict):
        return {
            k: _strip(v, properties=k == "properties" and not properties)
            for k, v in node.items()
            if properties or k not in _DROP
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.add(value.rsplit("/", 1)[-1])
            elif key == "mapping":
                found.update(v.rsplit("/", 1)[-1] for v in value.values())
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def extract(spec: dict) -> dict:
    operations = []
    for path, item in spec["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if not op:
                continue
            match = RATE.search(op.get("description", ""))
            if not match:
                raise SystemExit(f"no rate limit in {method.upper()} {path}")
            calls, amount, unit = match.groups()
            window_ms = round(float(amount) * (1000 if unit == "second" else 60_000))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            query = {p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p["in"] == "query"}
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "operation_id": op["operationId"],
                    "rate_limit": [int(calls), window_ms],
                    "body": _strip(body),
                    "query": _strip(query),
                }
            )
    schemas = spec["components"]["schemas"]
    needed: set[str] = set()
    _refs(operations, needed)
    done: set[str] = set()
    while needed - done:
        name = sorted(needed - done)[0]
        done.add(name)
        _refs(schemas[name], needed)
    return {
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "operations": operations,
        "schemas": {name: _strip(schemas[name]) for name in sorted(done)},
    }


def render(extracted: dict) -> str:
    return json.dumps(extracted, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> None:
    spec = json.loads(Path(argv[1]).read_text())
    OUT.write_text(render(extract(spec)))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv)
