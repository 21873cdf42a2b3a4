"""Development mailer: each message becomes an .eml file (open it with any mail client)."""

from __future__ import annotations

import os
import tempfile

from exams.ports.mail import MailDeliveryError, MailMessage

from .mime import to_mime


class FileMailer:
    def __init__(self, directory: str, *, from_address: str):
        self.directory = directory
        self.from_address = from_address

    def send(self, message: MailMessage) -> None:
        data = to_mime(message, self.from_address).as_bytes()
        # Named by the message id: a retried message overwrites its file instead of duplicating it.
        path = os.path.join(self.directory, f"{message.message_id}.eml")
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise MailDeliveryError(f"cannot write {path}: {exc.strerror or exc}") from None

