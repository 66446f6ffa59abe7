"""Input validation with JSON Schema; failures become `Invalid/ValidationFailed` with JSON-pointer causes."""

from __future__ import annotations

from typing import Any

import jsonschema

from app.errors import InputSchemaInvalid


def _cause(err: jsonschema.ValidationError) -> dict[str, Any]:
    location = "".join(f"/{p}" for p in err.absolute_path)
    details: dict[str, Any] = {}
    if err.validator == "required":
        details["missing"] = [
            m for m in err.validator_value if isinstance(err.instance, dict) and m not in err.instance
        ]
    elif err.validator == "additionalProperties":
        allowed = set((err.schema or {}).get("properties", {}))
        details["unexpected"] = (
            sorted(k for k in err.instance if k not in allowed) if isinstance(err.instance, dict) else []
        )
    elif err.validator == "type":
        details["expected"] = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
    elif err.validator in ("enum", "const"):
        details["expected"] = err.validator_value if err.validator == "enum" else [err.validator_value]
    elif err.validator in ("maxLength", "minLength", "maximum", "minimum", "minItems", "maxItems"):
        details["expected"] = err.validator_value
    return {"location": location, "kind": str(err.validator), "details": details}


def validate(instance: Any, schema: dict[str, Any]) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise InputSchemaInvalid([_cause(e) for e in errors[:10]])


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A flow input's object schema. Other keys are ignored, as Authgear's input and request schemas,
    which set no `additionalProperties`, ignore them (a custom UI may send more than a step reads)."""
    return {"type": "object", "properties": properties, "required": required or []}


def closed_obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object schema that refuses other keys (Authgear's import and export request schemas)."""
    return {**obj(properties, required), "additionalProperties": False}


STRING = {"type": "string", "minLength": 1, "maxLength": 1000}
CODE = {"type": "string", "minLength": 1, "maxLength": 64}
PASSWORD = {"type": "string", "maxLength": 1000}
TRUE = {"const": True}
INDEX = {"type": "integer", "minimum": 0, "maximum": 100}
