"""The mail adapters against a real SMTP server on loopback (aiosmtpd): plain, login, STARTTLS, implicit TLS,
refusals that are final and ones that may pass; and the development mailer's .eml files."""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import ssl

import pytest
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exams.adapters.mail.files import FileMailer
from exams.adapters.mail.smtp import SmtpMailer
from exams.ports.mail import MailDeliveryError, MailMessage
from tests.mailbox import SmtpServer, free_port


def message(to: str = "learner@example.com", **kw) -> MailMessage:
    values = {"to": to, "subject": "Proctoring attempt verified", "message_id": "4f1c0ffee",
              "text": "Your exam was reviewed and you met all proctoring requirements.\n",
              "html": "<p>Your exam was reviewed and you met all proctoring requirements.</p>"}
    values.update(kw)
    return MailMessage(**values)


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, and a client context that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def test_a_message_arrives_as_text_with_an_html_alternative_and_stable_headers(smtp):
    SmtpMailer("127.0.0.1", smtp.port, from_address="Exams <exams@example.org>", timeout=5).send(message())
    (received,) = smtp.wait_for(1)
    assert received.mail_from == "exams@example.org"
    assert received.rcpt_tos == ["learner@example.com"]
    mime = received.message
    assert (mime["From"], mime["To"], mime["Subject"]) == ("Exams <exams@example.org>", "learner@example.com",
                                                           "Proctoring attempt verified")
    assert mime["Message-ID"] == "<4f1c0ffee@example.org>"
    assert mime.get_content_type() == "multipart/alternative"
    assert "met all proctoring requirements" in received.part("plain")
    assert received.part("html").startswith("<p>Your exam")


def test_non_ascii_names_and_subjects_survive(smtp):
    SmtpMailer("127.0.0.1", smtp.port, from_address="exams@example.org", timeout=5).send(
        message(subject="Prüfung « Final »", text="Grüße\n", html="<p>Grüße</p>"))
    (received,) = smtp.wait_for(1)
    assert received.message["Subject"] == "Prüfung « Final »"
    assert received.part("plain").strip() == "Grüße"


def test_the_mailer_logs_in_when_given_credentials():
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((mechanism, auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"right")

    server = SmtpServer(authenticator=authenticator, auth_require_tls=False).start()
    try:
        good = SmtpMailer("127.0.0.1", server.port, from_address="exams@example.org", username="exams",
                          password="right", timeout=5)
        good.send(message())
        assert len(server.wait_for(1)) == 1
        # (after refusing PLAIN, aiosmtpd leaves smtplib's LOGIN fallback hanging: a short timeout)
        bad = SmtpMailer("127.0.0.1", server.port, from_address="exams@example.org", username="exams",
                         password="wrong", timeout=0.5)
        with pytest.raises(MailDeliveryError) as refused:
            bad.send(message())
        # Wrong credentials are the operator's to fix: the message waits, it is not given up.
        assert refused.value.permanent is False
        assert [(login, password) for _, login, password in logins][:2] == [(b"exams", b"right"), (b"exams", b"wrong")]
    finally:
        server.stop()


def test_starttls_upgrades_the_connection_and_checks_the_certificate(certificate):
    server_context, client_context = certificate
    server = SmtpServer(tls_context=server_context, require_starttls=True).start()
    try:
        SmtpMailer("127.0.0.1", server.port, from_address="exams@example.org", use_tls=True, timeout=5,
                   ssl_context=client_context).send(message())
        assert len(server.wait_for(1)) == 1
        untrusting = SmtpMailer("127.0.0.1", server.port, from_address="exams@example.org", use_tls=True, timeout=5)
        with pytest.raises(MailDeliveryError) as failed:
            untrusting.send(message())
        assert failed.value.permanent is False
        assert "CERTIFICATE_VERIFY_FAILED" in failed.value.reason
    finally:
        server.stop()


def test_implicit_tls_connects_over_tls_from_the_start(certificate):
    server_context, client_context = certificate
    server = SmtpServer(ssl_context=server_context).start()
    try:
        SmtpMailer("127.0.0.1", server.port, from_address="exams@example.org", use_ssl=True, timeout=5,
                   ssl_context=client_context).send(message())
        assert len(server.wait_for(1)) == 1
    finally:
        server.stop()


def test_starttls_and_implicit_tls_together_are_refused():
    with pytest.raises(ValueError):
        SmtpMailer("127.0.0.1", 25, from_address="exams@example.org", use_tls=True, use_ssl=True)


def test_a_recipient_the_server_refuses_for_good_is_a_permanent_failure(smtp):
    smtp.mailbox.refuse["gone@example.com"] = "550 5.1.1 No such user"
    with pytest.raises(MailDeliveryError) as refused:
        SmtpMailer("127.0.0.1", smtp.port, from_address="exams@example.org", timeout=5).send(
            message(to="gone@example.com"))
    assert refused.value.permanent is True
    assert "No such user" in refused.value.reason


def test_a_recipient_refused_for_now_is_retried_later(smtp):
    smtp.mailbox.refuse["busy@example.com"] = "451 4.3.0 Try again later"
    with pytest.raises(MailDeliveryError) as refused:
        SmtpMailer("127.0.0.1", smtp.port, from_address="exams@example.org", timeout=5).send(
            message(to="busy@example.com"))
    assert refused.value.permanent is False


def test_a_server_that_is_down_is_a_failure_that_may_pass():
    with pytest.raises(MailDeliveryError) as failed:
        SmtpMailer("127.0.0.1", free_port(), from_address="exams@example.org", timeout=2).send(message())
    assert failed.value.permanent is False


def test_an_address_that_cannot_be_a_header_is_refused_for_good(smtp):
    with pytest.raises(MailDeliveryError) as refused:
        SmtpMailer("127.0.0.1", smtp.port, from_address="exams@example.org", timeout=5).send(
            message(to="learner@example.com\nBcc: everyone@example.com"))
    assert refused.value.permanent is True
    assert smtp.received == []


def test_the_development_mailer_writes_one_eml_file_per_message_even_when_retried(tmp_path):
    mailer = FileMailer(str(tmp_path / "mail"), from_address="exams@localhost")
    mailer.send(message())
    mailer.send(message())
    mailer.send(message(message_id="another"))
    files = sorted(p.name for p in (tmp_path / "mail").iterdir())
    assert files == ["4f1c0ffee.eml", "another.eml"]
    parsed = email.message_from_bytes((tmp_path / "mail" / "4f1c0ffee.eml").read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "learner@example.com"
    assert "met all proctoring requirements" in parsed.get_body(("plain",)).get_content()


def test_the_development_mailer_reports_a_folder_it_cannot_write(tmp_path):
    blocker = tmp_path / "mail"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(MailDeliveryError) as failed:
        FileMailer(str(blocker), from_address="exams@localhost").send(message())
    assert failed.value.permanent is False
