"""Request validation with colander. Types are strict: a wrong JSON type is a 400, never a 500."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

import colander

from exams.domain.values import is_email, text_problem

MAX_INT = 2**31 - 1


class StrictInt(colander.SchemaType):
    """An integer, or a string of digits (form posts); booleans and floats are refused."""

    def __init__(self, minimum: int | None = 0, maximum: int = MAX_INT):
        self.minimum = minimum
        self.maximum = maximum

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if isinstance(cstruct, bool):
            raise colander.Invalid(node, "A valid integer is required.")
        if isinstance(cstruct, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", cstruct):
            cstruct = int(cstruct)
        if not isinstance(cstruct, int):
            raise colander.Invalid(node, "A valid integer is required.")
        if self.minimum is not None and cstruct < self.minimum:
            raise colander.Invalid(node, f"Ensure this value is greater than or equal to {self.minimum}.")
        if cstruct > self.maximum:
            raise colander.Invalid(node, f"Ensure this value is less than or equal to {self.maximum}.")
        return cstruct


class StrictBool(colander.SchemaType):
    TRUE = ("true", "True", "1", 1, True)
    FALSE = ("false", "False", "0", 0, False)

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if isinstance(cstruct, (str, int)) and cstruct in self.TRUE and not isinstance(cstruct, float):
            return True
        if isinstance(cstruct, (str, int)) and cstruct in self.FALSE:
            return False
        raise colander.Invalid(node, "Must be a valid boolean.")


class Text(colander.SchemaType):
    def __init__(self, max_length: int | None = 255, allow_blank: bool = False):
        self.max_length = max_length
        self.allow_blank = allow_blank

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if not isinstance(cstruct, str):
            raise colander.Invalid(node, "Not a valid string.")
        problem = text_problem(cstruct, self.max_length, allow_blank=self.allow_blank)
        if problem:
            raise colander.Invalid(node, problem)
        return cstruct


class UtcDateTime(colander.SchemaType):
    """ISO 8601; a naive value is taken as UTC (as Studio sends it)."""

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if not isinstance(cstruct, str) or len(cstruct) > 64:
            raise colander.Invalid(node, "Datetime has wrong format.")
        text = cstruct.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise colander.Invalid(node, "Datetime has wrong format.") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before the calendar starts
            raise colander.Invalid(node, "Datetime has wrong format.") from None


class Email(Text):
    def __init__(self):
        super().__init__(max_length=254)

    def deserialize(self, node, cstruct):
        value = super().deserialize(node, cstruct)
        if value is not colander.null and not is_email(value):
            raise colander.Invalid(node, "Enter a valid email address.")
        return value


class FiniteNumber(colander.SchemaType):
    """A finite number given as a JSON number or a numeric string, within [minimum, maximum]."""

    def __init__(self, minimum: float, maximum: float):
        self.minimum = minimum
        self.maximum = maximum

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if isinstance(cstruct, bool) or not isinstance(cstruct, (int, float, str)):
            raise colander.Invalid(node, "A valid number is required.")
        try:
            value = float(cstruct)
        except ValueError:
            raise colander.Invalid(node, "A valid number is required.") from None
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            raise colander.Invalid(node, f"Must be a number from {self.minimum} to {self.maximum}.")
        return cstruct


def required(typ, **kw):
    return colander.SchemaNode(typ, missing=colander.required,
                               missing_msg="This field is required.", **kw)


class ExamTypeField(Text):
    CHOICES = ("proctored", "timed", "practice", "onboarding")

    def deserialize(self, node, cstruct):
        value = super().deserialize(node, cstruct)
        if value is colander.null:
            return value  # absent or null: "This field is required."
        if value not in self.CHOICES:
            raise colander.Invalid(node, "Must be a valid exam type.")
        return value


def exam_item_schema():
    schema = colander.SchemaNode(colander.Mapping(unknown="ignore"))
    schema.add(required(Text(255), name="content_id"))
    schema.add(required(Text(None), name="exam_name"))
    schema.add(required(StrictInt(), name="time_limit_mins"))
    schema.add(colander.SchemaNode(UtcDateTime(), name="due_date", missing=None))
    schema.add(required(ExamTypeField(), name="exam_type"))
    schema.add(required(StrictBool(), name="hide_after_due"))
    schema.add(required(StrictBool(), name="is_active"))
    return schema


def allowance_item_schema():
    schema = colander.SchemaNode(colander.Mapping(unknown="ignore"))
    schema.add(required(StrictInt(minimum=1), name="exam_id"))
    schema.add(colander.SchemaNode(Text(150), name="username", missing=None))
    schema.add(colander.SchemaNode(Text(254), name="email", missing=None))
    schema.add(required(StrictInt(minimum=0, maximum=100000), name="extra_time_mins"))
    return schema


def deserialize_each(schema, items: list) -> list[tuple[dict | None, dict]]:
    """Validate each item of a list body: ``(data, {})`` when valid, ``(None, {field: [message]})`` when not."""
    out = []
    for item in items:
        if not isinstance(item, dict):
            out.append((None, {"non_field_errors": ["Invalid data. Expected a dictionary."]}))
            continue
        try:
            out.append((schema.deserialize(item), {}))
        except colander.Invalid as exc:
            out.append((None, {path.split(".")[-1]: [msg] for path, msg in exc.asdict().items()}))
    return out
