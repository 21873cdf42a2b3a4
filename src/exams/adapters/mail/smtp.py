"""SMTP mailer (smtplib): one connection per message, plain, STARTTLS or implicit TLS, optional login."""

from __future__ import annotations

import smtplib
import ssl

from exams.ports.mail import MailDeliveryError, MailMessage

from .mime import to_mime


def _permanent_code(code: int) -> bool:
    return 500 <= code < 600


class SmtpMailer:
    def __init__(self, host: str, port: int, *, from_address: str, use_tls: bool = False, use_ssl: bool = False,
                 username: str = "", password: str = "", timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None):
        if use_tls and use_ssl:
            raise ValueError("use either STARTTLS (use_tls) or implicit TLS (use_ssl), not both")
        self.host = host
        self.port = port
        self.from_address = from_address
        self.use_tls = use_tls
        self.use_ssl = use_ssl
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or ssl.create_default_context()
        if self.use_ssl:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.use_tls:
            smtp.starttls(context=context)
        return smtp

    def send(self, message: MailMessage) -> None:
        mime = to_mime(message, self.from_address)
        try:
            smtp = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise MailDeliveryError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        try:
            if self.username:
                smtp.login(self.username, self.password)
            self._send(smtp, mime, message)
        except MailDeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailDeliveryError(f"recipient refused: {exc.recipients}",
                                    permanent=bool(codes) and all(map(_permanent_code, codes))) from None
        except smtplib.SMTPDataError as exc:
            # The server read the message and refused it (content, size): sending it again will not help.
            raise MailDeliveryError(f"message refused: {exc.smtp_code} {exc.smtp_error!r}",
                                    permanent=_permanent_code(exc.smtp_code)) from None
        except (smtplib.SMTPException, OSError) as exc:
            # Login refused, sender refused, connection lost, 4xx: the server or our settings; retry.
            raise MailDeliveryError(f"{type(exc).__name__}: {exc}") from None
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _send(self, smtp: smtplib.SMTP, mime, message: MailMessage) -> None:
        try:
            smtp.send_message(mime, from_addr=self.from_address, to_addrs=[message.to])
        except smtplib.SMTPNotSupportedError as exc:
            # A non-ASCII address and a server without SMTPUTF8: this message can never go through it.
            raise MailDeliveryError(f"cannot send to {message.to!r}: {exc}", permanent=True) from None
