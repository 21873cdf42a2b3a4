"""Request validation with colander. Types are strict: a wrong JSON type is a 400, never a 500."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

import colander

from exams.domain.exams import ExamType
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


class Nullable(colander.SchemaType):
    """``typ``, or JSON null as None (an absent key is still missing)."""

    def __init__(self, typ: colander.SchemaType):
        self.typ = typ

    def deserialize(self, node, cstruct):
        return None if cstruct is None else self.typ.deserialize(node, cstruct)


class Body(colander.Mapping):
    """A JSON object body; anything else is refused as a whole (``non_field_errors``)."""

    def __init__(self):
        super().__init__(unknown="ignore")

    def _validate(self, node, value):
        if not isinstance(value, dict):
            raise colander.Invalid(node, "Invalid data. Expected a dictionary.")
        return dict(value)


class WholeMinutes(colander.SchemaType):
    """Minutes as a whole number: a JSON number or a numeric string; a fraction is rounded up.

    The exams dashboard's "time multiplier" sends time limit x multiplier (45 x 1.5 = 22.5); the learner
    gets at least that much time, so 22.5 becomes 23 (edx-exams refuses it with a 400).
    """

    def __init__(self, minimum: int = 0, maximum: int = 100000):
        self.minimum = minimum
        self.maximum = maximum

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if isinstance(cstruct, bool) or not isinstance(cstruct, (int, float, str)):
            raise colander.Invalid(node, "A valid integer is required.")
        if isinstance(cstruct, str):
            if not re.fullmatch(r"\s*[0-9]{1,12}(\.[0-9]{0,12})?\s*", cstruct):
                raise colander.Invalid(node, "A valid integer is required.")
            cstruct = float(cstruct) if "." in cstruct else int(cstruct)
        if isinstance(cstruct, float):
            if not math.isfinite(cstruct):
                raise colander.Invalid(node, "A valid integer is required.")
            if not self.minimum <= cstruct <= self.maximum:
                raise colander.Invalid(node, f"Must be from {self.minimum} to {self.maximum} minutes.")
            cstruct = math.ceil(cstruct)
        if not self.minimum <= cstruct <= self.maximum:
            raise colander.Invalid(node, f"Must be from {self.minimum} to {self.maximum} minutes.")
        return cstruct


def required(typ, **kw):
    return colander.SchemaNode(typ, missing=colander.required,
                               missing_msg="This field is required.", **kw)


class ExamTypeField(Text):
    """One of the `ExamType` values, as the enum."""

    def deserialize(self, node, cstruct):
        value = super().deserialize(node, cstruct)
        if value is colander.null:
            return value  # absent or null: "This field is required."
        try:
            return ExamType(value)
        except ValueError:
            raise colander.Invalid(node, "Must be a valid exam type.") from None


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


def course_config_schema():
    """PATCH of a course's proctoring configuration: both keys present, each may be null."""
    schema = colander.SchemaNode(Body())
    schema.add(required(Nullable(Text(255)), name="provider"))
    schema.add(required(Nullable(Email()), name="escalation_email"))
    return schema


def _names_a_learner(node, value):
    if not value["username"] and not value["email"]:
        error = colander.Invalid(node)
        error["username"] = "username or email must be provided"
        raise error


def allowance_item_schema():
    schema = colander.SchemaNode(colander.Mapping(unknown="ignore"), validator=_names_a_learner)
    schema.add(required(StrictInt(minimum=1), name="exam_id"))
    schema.add(colander.SchemaNode(Text(150), name="username", missing=None))
    schema.add(colander.SchemaNode(Text(254), name="email", missing=None))
    schema.add(required(WholeMinutes(minimum=0, maximum=100000), name="extra_time_mins"))
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
