"""Time, as a port: everything that reads the time asks a ``Clock``, so that tests control it.

``SystemClock`` is the real time; the composition root injects one clock everywhere (services,
repositories, the LTI platform, token signers and verifiers), and tests replace it with a fake.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class SystemClock:
    """The machine's time (the default wherever no clock is given)."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


SYSTEM_CLOCK = SystemClock()
