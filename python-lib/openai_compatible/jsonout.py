"""JSON output: checking a user's JSON schema up front, and reading typed columns from an answer."""
from __future__ import annotations

import json
import math
from typing import Any, Optional

from .columns import OutputColumn
from .errors import OutputValidationError, SettingsError
from .finish import is_truncated
from .reasoning import answer_text

_DSS_TYPES = {"string": "string", "integer": "bigint", "number": "double", "boolean": "boolean"}


def load_schema(text: Any, field: str = "json_schema") -> dict:
    """Parses and checks a JSON schema describing one object; raises :class:`SettingsError` naming ``field``."""
    import jsonschema

    if isinstance(text, dict):
        schema = text
    else:
        if not isinstance(text, str) or not text.strip():
            raise SettingsError(f"Parameter '{field}' is empty: paste a JSON schema of the object each row's "
                                'answer must be, e.g. {"type": "object", "properties": {"sentiment": '
                                '{"type": "string"}}}.')
        try:
            schema = json.loads(text)
        except ValueError as exc:
            raise SettingsError(f"Parameter '{field}' is not valid JSON ({exc.msg} at line {exc.lineno}, "
                                f"column {exc.colno}).") from None
    if not isinstance(schema, dict):
        raise SettingsError(f"Parameter '{field}' must be a JSON object (a JSON schema).")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "top level"
        raise SettingsError(f"Parameter '{field}' is not a valid JSON Schema ({where}): {exc.message}.") from None
    _check_refs(schema, field)
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict) or not schema["properties"]:
        raise SettingsError(f"Parameter '{field}' must describe an object with properties "
                            '("type": "object", "properties": {...}): each property becomes an output column.')
    return schema


def _check_refs(schema: dict, field: str) -> None:
    """Every ``$ref`` must point inside the schema: a dangling one would only fail when the first answer is
    checked, and a remote one would make answers depend on a download. References are resolved as
    ``jsonschema`` resolves them (the ``referencing`` library: JSON pointers, ``$anchor``, embedded
    ``$id``), walking only the keywords that hold schemas (not ``enum`` or ``const`` values)."""
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchAnchor, PointerToNowhere, Unresolvable
    from referencing.jsonschema import DRAFT202012

    root = Resource.from_contents(schema, default_specification=DRAFT202012)
    registry = Registry().with_resource("", root).crawl()
    pending = [(root, registry.resolver())]
    while pending:
        resource, resolver = pending.pop()
        ref = resource.contents.get("$ref") if isinstance(resource.contents, dict) else None
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except (PointerToNowhere, NoSuchAnchor):
                raise SettingsError(f"Parameter '{field}' uses \"$ref\": \"{ref}\", which points to nothing in the "
                                    "schema (missing definition): add it under \"$defs\" or fix the reference."
                                    ) from None
            except Unresolvable:
                raise SettingsError(f"Parameter '{field}' uses \"$ref\": \"{ref}\", a reference outside the schema: "
                                    "put the definition in the schema's \"$defs\" and refer to it as "
                                    "#/$defs/<name>.") from None
        pending.extend((sub, resolver.in_subresource(sub)) for sub in resource.subresources())


def strict_schema(schema: dict) -> dict:
    """The schema as sent to the provider: every property required, no extra ones (what strict mode needs)."""
    out = dict(schema)
    out.setdefault("required", list(schema["properties"]))
    out.setdefault("additionalProperties", False)
    return out


def schema_columns(schema: dict) -> list[OutputColumn]:
    """One typed column per top-level property; arrays and objects are stored as JSON text."""
    columns = []
    for name, spec in schema["properties"].items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if len(kinds) == 1 else None
        dss_type = _DSS_TYPES.get(kind or "", "string")
        description = spec.get("description") or f"Property '{name}' of the JSON answer"
        columns.append(OutputColumn(f"field:{name}", dss_type, str(description), suffix=name))
    return columns


def strip_code_fence(text: str) -> str:
    """The text inside a Markdown code fence (```json ... ``` or ``` ... ```), else the text, stripped:
    some models wrap JSON in a fence even in JSON mode."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").strip()
        if stripped[:4].lower() == "json":
            stripped = stripped[4:].strip()
    return stripped


def parse_json_text(text: str, finish_reason: Optional[str], when_cut: str) -> Any:
    """Parses a model's JSON answer (also inside a code fence); :class:`OutputValidationError` says whether
    it was cut at the token limit (then ``when_cut`` tells the user what to do) or is just not JSON. A reasoning
    block still inline (an answer stored before it was split) is skipped: JSON is read after it, never inside."""
    try:
        return json.loads(strip_code_fence(answer_text(text)))
    except ValueError as exc:
        if is_truncated(finish_reason):
            raise OutputValidationError("The JSON answer was cut off at the output token limit "
                                        f"(finish_reason=length): {when_cut}.") from None
        raise OutputValidationError(f"The answer is not valid JSON ({exc.msg} at position {exc.pos}).") from None


def read_json_answer(text: str, finish_reason: Optional[str], schema: Optional[dict], *,
                     when_cut: str = "raise 'max_output_tokens'") -> dict:
    """Parses and validates a JSON answer; raises :class:`OutputValidationError` saying what is wrong."""
    import jsonschema

    value = parse_json_text(text, finish_reason, when_cut)
    if not isinstance(value, dict):
        raise OutputValidationError(f"The answer is JSON but not an object ({type(value).__name__}).")
    if schema is not None:
        validator = jsonschema.validators.validator_for(schema)(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the object"
            raise OutputValidationError(f"The JSON answer does not follow the schema at {where}: {error.message}.")
    return value


def column_value(value: Any, dss_type: str) -> Any:
    """A JSON value as stored in a column of ``dss_type`` (arrays/objects as JSON text)."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if dss_type == "bigint" and isinstance(value, float) and value.is_integer():
        return int(value)
    if dss_type == "double" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    return value
