"""Results a proctoring vendor reports through the Assessment Control Service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

# Reason codes a vendor sends with ``terminate``, as edx-exams displays them.
REASON_CODES = {
    "0": "Disconnected from proctoring",
    "1": "Submitted by user",
    "2": "Navigated away from assessment",
    "4": "Left exam when in full screen",
    "5": "Ended screen recording",
    "6": "Uninstalled browser extension",
    "7": "Switched to a proxy during exam",
    "8": "Changed networks during exam",
    "9": "Closed or reloaded the exam tab",
    "12": "Attempted to modify the exam page",
    "13": "Attempted to download a file during exam",
    "14": "The battery died on learner's device",
    "15": "Plugged in additional monitors",
    "16": "Unplugged camera or microphone",
    "21": "Page became unresponsive during exam",
    "24": "Revoked microphone permissions",
    "25": "Revoked camera permissions",
}


@dataclass(frozen=True)
class ControlResult:
    id: int | None
    attempt_id: int
    action_type: str
    incident_time: datetime
    severity: Decimal
    reason_code: str

    @property
    def reason_text(self) -> str:
        return REASON_CODES.get(self.reason_code, self.reason_code)
