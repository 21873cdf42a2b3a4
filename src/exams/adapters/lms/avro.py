"""Schemaless Avro binary encoding of event payloads.

The LMS side writes and reads payloads with ``fastavro.schemaless_writer``/``schemaless_reader`` (raw Avro
binary: no container header, no single-object marker, no schema id). We use the same well-kept library rather
than a hand-written codec: byte-identical output is then a property of the library openedx-events itself uses,
and the golden vectors in the tests pin it. This module only adds schema parsing with caching, strict
validation before writing, a check for trailing bytes when reading, and clear exceptions.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from exams.adapters.lms.schemas import SCHEMAS


class AvroEncodeError(ValueError):
    """A record does not match its schema."""


class AvroDecodeError(ValueError):
    """Bytes are not a valid encoding of a record of the schema (truncated, corrupt, or trailing data)."""


@lru_cache(maxsize=None)
def parsed_schema(event_type: str) -> Any:
    """The fastavro-parsed schema of ``event_type`` (each parsed on its own: namespaces differ per type)."""
    return fastavro.parse_schema(SCHEMAS[event_type], named_schemas={})


def encode(event_type: str, record: dict) -> bytes:
    """Encode ``record`` as schemaless Avro binary with the schema of ``event_type``."""
    schema = parsed_schema(event_type)
    try:
        validate(record, schema, raise_errors=True)
    except ValidationError as exc:
        raise AvroEncodeError(f"record does not match the {event_type} schema: {exc}") from exc
    out = io.BytesIO()
    try:
        fastavro.schemaless_writer(out, schema, record)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # pragma: no cover - validate() catches these
        raise AvroEncodeError(f"cannot encode {event_type} record: {exc}") from exc
    return out.getvalue()


def decode(event_type: str, payload: bytes) -> dict:
    """Decode a schemaless Avro ``payload`` written with the schema of ``event_type``.

    Unlike a bare ``schemaless_reader`` call, bytes left over after the record are an error: they mean the
    writer used a different schema, and silently ignoring them would hide schema drift.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise AvroDecodeError(f"payload must be bytes, got {type(payload).__name__}")
    buf = io.BytesIO(bytes(payload))
    try:
        record = fastavro.schemaless_reader(buf, parsed_schema(event_type), None)
    except Exception as exc:  # fastavro raises EOFError, UnicodeDecodeError, IndexError, ... on corrupt input
        raise AvroDecodeError(f"corrupt {event_type} payload: {type(exc).__name__}: {exc}") from exc
    left = len(buf.getbuffer()) - buf.tell()
    if left:
        raise AvroDecodeError(f"{left} unexpected trailing byte(s) after the {event_type} record")
    return record
