"""Extra time granted to a learner on one exam."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Allowance:
    id: int | None
    user_id: int
    exam_id: int
    extra_time_mins: int
