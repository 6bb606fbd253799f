"""The operations of the Frame.io v4 spec (from spec.json) and the matching of request paths to them."""

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from frameio_sandbox.schema import Validator

SPEC_FILE = Path(__file__).with_name("spec.json")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template, e.g. "/v4/accounts/{account_id}/folders/{folder_id}/children"
    operation_id: str
    rate_limit: int
    rate_window_ms: int
    body: dict | None = field(default=None, hash=False, compare=False)
    query: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))


@dataclass(frozen=True)
class Spec:
    operations: tuple[Operation, ...]
    validator: Validator

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation whose template fits `path` best (most literal segments), with its path params."""
        parts = tuple(path.strip("/").split("/"))
        best: tuple[int, Operation, dict[str, str]] | None = None
        for op in self.operations:
            if op.method != method or len(op.segments) != len(parts):
                continue
            params: dict[str, str] = {}
            literal = 0
            for template, actual in zip(op.segments, parts, strict=True):
                if template.startswith("{"):
                    if not actual:
                        break
                    params[template[1:-1]] = actual
                elif template == actual:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, op, params)
        return None if best is None else (best[1], best[2])

    def path_exists(self, path: str) -> bool:
        return any(self.match(method, path) for method in ("GET", "POST", "PATCH", "PUT", "DELETE"))


@cache
def load_spec() -> Spec:
    raw = json.loads(SPEC_FILE.read_text())
    operations = tuple(
        Operation(
            method=op["method"],
            path=op["path"],
            operation_id=op["operation_id"],
            rate_limit=op["rate_limit"][0],
            rate_window_ms=op["rate_limit"][1],
            body=op["body"],
            query=op["query"],
        )
        for op in raw["operations"]
    )
    return Spec(operations=operations, validator=Validator(raw["schemas"]))
