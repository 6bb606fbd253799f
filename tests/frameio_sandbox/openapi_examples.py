"""The request-body examples of the Frame.io v4 OpenAPI spec, kept in the repository.

    python -m tests.frameio_sandbox.openapi_examples ../shared/frameio-openapi/openapi-v4.json

`openapi_compact.json` drops examples (openapi_slice.py), and the tests run without `../shared`. This file
keeps, per operationId, the example the spec gives for its request body (the body schema's own `example`,
else the media type's): `openapi_examples.json`, beside it. `test_request_bodies.py` posts each to the
sandbox; where the full spec is at hand it also checks that this file is what the spec gives.
"""

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("openapi_examples.json")
_METHODS = ("post", "put", "patch", "delete")


def extract(spec: dict) -> dict[str, Any]:
    """{operationId: example request body} for every operation with a JSON body and an example."""
    schemas = spec["components"]["schemas"]
    examples: dict[str, Any] = {}
    for operations in spec["paths"].values():
        for method in _METHODS:
            op = operations.get(method)
            media = (((op or {}).get("requestBody") or {}).get("content") or {}).get("application/json")
            if not media:
                continue
            schema = media.get("schema") or {}
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            example = schema.get("example", media.get("example"))
            if example is not None:
                examples[op["operationId"]] = example
    return dict(sorted(examples.items()))


def render(examples: dict[str, Any]) -> str:
    return json.dumps(examples, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(extract(json.loads(Path(sys.argv[1]).read_text()))))
