"""A small validator for the subset of OpenAPI 3.0 schemas that the Frame.io v4 spec uses.

The sandbox checks request bodies and query parameters with it (against `spec.json`), and the tests check
the sandbox's answers with it (against tests/frameio_sandbox/openapi_responses.json). It knows `$ref`, `allOf`, `oneOf`
(by `discriminator` when the schema has one, otherwise "at least one branch matches": the spec's
`TimeStamp` has two nullable branches, so a strict "exactly one" would reject every null), `anyOf`,
`nullable`, `type`, `enum`, `required`, `properties`, `additionalProperties`, `min/maxProperties`,
`min/maxLength`, `pattern`, `minimum`/`maximum`, `min/maxItems`, `uniqueItems`, and the formats
`uuid`, `date-time` and `HH:MM:SS:FF`.

`additionalProperties: false` next to an `allOf` counts the properties of every branch as known, which
is how OpenAPI generators (and the Frame.io SDK) read the spec's `FileWithIncludes`.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TIMECODE = re.compile(r"^\d{2}:\d{2}:\d{2}[:;]\d{2}$")
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


@dataclass(frozen=True)
class SchemaError:
    pointer: str  # JSON pointer into the validated document, e.g. "/data/name"
    message: str


class Validator:
    """Validates JSON values against schemas whose `$ref`s point into `schemas` (components/schemas)."""

    def __init__(self, schemas: dict[str, dict]):
        self.schemas = schemas

    def validate(self, value: Any, schema: dict, pointer: str = "") -> list[SchemaError]:
        return self._check(value, schema, pointer, frozenset())

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def property_names(self, schema: dict) -> set[str]:
        """Every property name `schema` declares, through `allOf` branches."""
        schema = self.resolve(schema)
        names = set(schema.get("properties", {}))
        for branch in schema.get("allOf", []):
            names |= self.property_names(branch)
        return names

    def _check(self, value: Any, schema: dict, ptr: str, known: frozenset[str]) -> list[SchemaError]:
        schema = self.resolve(schema)
        if value is None:
            return self._check_null(schema, ptr, known)
        errors: list[SchemaError] = []
        expected = schema.get("type")
        if expected and not _TYPES[expected](value):
            return [SchemaError(ptr, f"Expected a value of type {expected}")]
        if "enum" in schema and value not in schema["enum"]:
            return [SchemaError(ptr, "Value must be one of: " + ", ".join(map(str, schema["enum"])))]
        if "allOf" in schema:
            known = known | frozenset(self.property_names(schema))
            for branch in schema["allOf"]:
                errors += self._check(value, branch, ptr, known)
        if "oneOf" in schema:
            errors += self._check_one_of(value, schema, ptr, known)
        if "anyOf" in schema:
            errors += self._best_branch(value, schema["anyOf"], ptr, known)
        if isinstance(value, dict):
            errors += self._check_object(value, schema, ptr, known)
        elif isinstance(value, list):
            errors += self._check_array(value, schema, ptr)
        elif isinstance(value, str):
            errors += self._check_string(value, schema, ptr)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            errors += self._check_number(value, schema, ptr)
        return errors

    def _check_null(self, schema: dict, ptr: str, known: frozenset[str]) -> list[SchemaError]:
        if schema.get("nullable") or not schema:
            return []
        branches = schema.get("oneOf") or schema.get("anyOf")
        if branches and "type" not in schema:
            return self._best_branch(None, branches, ptr, known)
        if "allOf" in schema and "type" not in schema:
            return [e for branch in schema["allOf"] for e in self._check(None, branch, ptr, known)]
        return [SchemaError(ptr, "Value must not be null")]

    def _check_one_of(self, value: Any, schema: dict, ptr: str, known: frozenset[str]) -> list[SchemaError]:
        discriminator = schema.get("discriminator")
        if discriminator and isinstance(value, dict):
            prop = discriminator["propertyName"]
            mapping = discriminator.get("mapping", {})
            if value.get(prop) not in mapping:
                return [SchemaError(f"{ptr}/{prop}", "Value must be one of: " + ", ".join(sorted(mapping)))]
            return self._check(value, {"$ref": mapping[value[prop]]}, ptr, known)
        return self._best_branch(value, schema["oneOf"], ptr, known)

    def _best_branch(self, value: Any, branches: list[dict], ptr: str, known: frozenset[str]) -> list[SchemaError]:
        best: list[SchemaError] | None = None
        for branch in branches:
            errors = self._check(value, branch, ptr, known)
            if not errors:
                return []
            if best is None or len(errors) < len(best):
                best = errors
        return best or []

    def _check_object(self, value: dict, schema: dict, ptr: str, known: frozenset[str]) -> list[SchemaError]:
        errors = [
            SchemaError(f"{ptr}/{name}", f"Missing field: {name}")
            for name in schema.get("required", [])
            if name not in value
        ]
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if name in value:
                errors += self._check(value[name], sub, f"{ptr}/{name}", frozenset())
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            allowed = known | set(properties) | self.property_names(schema)
            for name in value:
                if name in allowed:
                    continue
                if extra is False:
                    errors.append(SchemaError(f"{ptr}/{name}", f"Unexpected field: {name}"))
                else:
                    errors += self._check(value[name], extra, f"{ptr}/{name}", frozenset())
        if len(value) < schema.get("minProperties", 0):
            errors.append(SchemaError(ptr, f"Expected at least {schema['minProperties']} field(s)"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(SchemaError(ptr, f"Expected at most {schema['maxProperties']} field(s)"))
        return errors

    def _check_array(self, value: list, schema: dict, ptr: str) -> list[SchemaError]:
        errors = []
        if len(value) < schema.get("minItems", 0):
            errors.append(SchemaError(ptr, f"Expected at least {schema['minItems']} item(s)"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(SchemaError(ptr, f"Expected at most {schema['maxItems']} item(s)"))
        if schema.get("uniqueItems"):
            seen = [json.dumps(item, sort_keys=True) for item in value]
            if len(set(seen)) != len(seen):
                errors.append(SchemaError(ptr, "Items must be unique"))
        if "items" in schema:
            for index, item in enumerate(value):
                errors += self._check(item, schema["items"], f"{ptr}/{index}", frozenset())
        return errors

    def _check_string(self, value: str, schema: dict, ptr: str) -> list[SchemaError]:
        errors = []
        if len(value) < schema.get("minLength", 0):
            errors.append(SchemaError(ptr, f"Length must be at least {schema['minLength']}"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(SchemaError(ptr, f"Length must be at most {schema['maxLength']}"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(SchemaError(ptr, f"Value must match {schema['pattern']}"))
        fmt = schema.get("format")
        if fmt == "uuid" and not _UUID.match(value):
            errors.append(SchemaError(ptr, "Value must be a UUID"))
        elif fmt == "date-time" and not _is_datetime(value):
            errors.append(SchemaError(ptr, "Value must be an ISO 8601 date-time"))
        elif fmt == "HH:MM:SS:FF" and not _TIMECODE.match(value):
            errors.append(SchemaError(ptr, "Value must be a timecode HH:MM:SS:FF"))
        return errors

    def _check_number(self, value: float, schema: dict, ptr: str) -> list[SchemaError]:
        if "minimum" in schema and value < schema["minimum"]:
            return [SchemaError(ptr, f"Value must be at least {schema['minimum']}")]
        if "maximum" in schema and value > schema["maximum"]:
            return [SchemaError(ptr, f"Value must be at most {schema['maximum']}")]
        return []


def _is_datetime(value: str) -> bool:
    if "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
