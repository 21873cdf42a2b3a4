"""The ``exams`` command: operator tasks against the database named by an ini file.

    exams -c development.ini migrate
    exams -c development.ini provider add --name proctorio --verbose-name Proctorio
    exams -c development.ini token --username alice --user-id 7

Every mistake of the operator is one line on stderr, ``exams: error: ...``, naming the option, file, line or
setting, and exit status 2; a failure of the environment (database down, ...) is one line and exit status 1.
Values are checked by the rules the API uses (``exams.domain``), before anything is written.
"""

from __future__ import annotations

import argparse
import configparser
import csv
import io
import json
import os
import sys
import time
from dataclasses import replace
from typing import Sequence

import plaster

from exams import settings as settings_module
from exams.container import Container, build_container
from exams.domain.errors import DomainError, InvalidValue
from exams.domain.exams import Provider, check_provider
from exams.domain.values import check_course_key, check_email, check_username
from exams.units import build_outbox_operator, build_relay, build_role_consumer, run_in_transaction

USAGE_ERROR = 2  # the operator's mistake: a bad option, file or setting
FAILURE = 1  # the environment failed (database unreachable, ...)


class CliError(Exception):
    """A one-line error for the operator: exit status 2 (a mistake), or 1 when the environment is at fault."""

    def __init__(self, message: str, status: int = USAGE_ERROR):
        super().__init__(message)
        self.status = status


def option(field: str) -> str:
    """The command-line option of a value's field (``tech_support_email`` -> ``--tech-support-email``)."""
    return "--" + field.replace("_", "-")


def _read_ini(config_uri: str) -> dict:
    path = config_uri.split("#")[0]
    if not os.path.exists(path):
        raise CliError(f"{path}: no such ini file")
    if os.path.isdir(path):
        raise CliError(f"{path}: is a folder, not an ini file")
    try:
        raw = dict(plaster.get_settings(config_uri, "app:main"))
    except plaster.LoaderNotFound:
        raise CliError(f"{path}: not an ini file (its name must end in .ini)") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not a text ini file (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} "
                       f"is not UTF-8)") from None
    except configparser.MissingSectionHeaderError as exc:
        raise CliError(f"{path}:{exc.lineno}: not an ini file: a line before any [section] header") from None
    except configparser.ParsingError as exc:
        line = exc.errors[0][0] if getattr(exc, "errors", None) else "?"
        raise CliError(f"{path}:{line}: not an ini line (expected 'name = value' or a [section])") from None
    except configparser.DuplicateOptionError as exc:
        raise CliError(f"{path}:{exc.lineno}: {exc.option} is set twice in [{exc.section}]") from None
    except configparser.DuplicateSectionError as exc:
        raise CliError(f"{path}:{exc.lineno}: the section [{exc.section}] appears twice") from None
    except configparser.InterpolationMissingOptionError as exc:
        raise CliError(f"{path}: [{exc.section}] {exc.option}: %({exc.reference})s names no setting") from None
    except configparser.Error as exc:
        raise CliError(f"{path}: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not raw:
        raise CliError(f"{path}: no [app:main] section with the service's settings")
    return raw


def load_settings(config_uri: str) -> settings_module.Settings:
    raw = _read_ini(config_uri)
    here = os.path.dirname(os.path.abspath(config_uri.split("#")[0]))
    return settings_module.load(settings_module.resolve_paths(raw, here))


def emit(data) -> None:
    print(json.dumps(data, indent=2, default=str))


# -- commands ---------------------------------------------------------------------------------
def cmd_migrate(args, container: Container, settings) -> None:
    from exams.adapters.sql.migrate import upgrade

    url = settings["sqlalchemy.url"]
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    upgrade(url)
    emit({"migrated": True, "database": container.engine().url.render_as_string(hide_password=True)})


def provider_json(p: Provider) -> dict:
    return {"id": p.id, "name": p.name, "verbose_name": p.verbose_name,
            "lti_configuration_id": p.lti_configuration_id, "org_key": p.org_key,
            "tech_support_email": p.tech_support_email, "tech_support_phone": p.tech_support_phone,
            "tech_support_url": p.tech_support_url}


def provider_with_lti(services, p: Provider) -> dict:
    """The provider and, if it has an LTI registration, what its vendor must be given (docs/lti.md)."""
    registration = services.lti.registration(p.lti_configuration_id)
    return {**provider_json(p), "lti": services.lti.vendor_info(registration)} if registration else provider_json(p)


def _lti_registration(args) -> dict | None:
    given = [args.lti_client_id, args.lti_login_url, args.lti_launch_url, args.lti_redirect_uri,
             args.lti_jwks_url, args.lti_public_key_file, args.lti_deployment_id]
    if all(value is None for value in given):
        return None
    if not (args.lti_client_id and args.lti_login_url and args.lti_launch_url):
        raise CliError("an LTI registration needs --lti-client-id, --lti-login-url and --lti-launch-url")
    if not (args.lti_jwks_url or args.lti_public_key_file):
        raise CliError("an LTI registration needs --lti-jwks-url or --lti-public-key-file")
    public_key = None
    if args.lti_public_key_file:
        try:
            with open(args.lti_public_key_file, encoding="utf-8") as fh:
                public_key = fh.read().strip()
        except UnicodeDecodeError:
            raise CliError(f"{args.lti_public_key_file}: not a text file; --lti-public-key-file takes a PEM public "
                           "key, a JWK or a JWKS") from None
        except OSError as exc:
            raise CliError(f"cannot read {args.lti_public_key_file}: {exc.strerror}") from None
        if not public_key:
            raise CliError(f"{args.lti_public_key_file}: the file is empty; --lti-public-key-file takes a PEM "
                           "public key, a JWK or a JWKS")
    return dict(client_id=args.lti_client_id, oidc_login_url=args.lti_login_url, launch_url=args.lti_launch_url,
                redirect_uris=tuple(args.lti_redirect_uri or ()), tool_jwks_url=args.lti_jwks_url,
                tool_public_key=public_key,
                deployment_id="1" if args.lti_deployment_id is None else args.lti_deployment_id)


PROVIDER_FIELDS = ("verbose_name", "org_key", "tech_support_email", "tech_support_phone", "tech_support_url")


def cmd_provider_add(args, container, settings) -> None:
    provider = Provider(id=None, name=args.name, **{name: getattr(args, name) for name in PROVIDER_FIELDS})
    check_provider(provider)  # before the registration: its errors name the provider's options
    lti = _lti_registration(args)

    def work(services):
        try:
            configuration_id = services.lti.register_tool(**lti).registration_id if lti else ""
        except DomainError as exc:
            if exc.code == "invalid_tool_key":
                raise CliError(f"{args.lti_public_key_file}: {exc.detail}") from None
            raise
        created = services.exams.add_provider(replace(provider, lti_configuration_id=configuration_id))
        return provider_with_lti(services, created)

    emit(run_in_transaction(container, work))


def cmd_provider_list(args, container, settings) -> None:
    emit(run_in_transaction(container, lambda s: [provider_with_lti(s, p) for p in s.exams.providers()]))


def cmd_provider_update(args, container, settings) -> None:
    changes = {name: getattr(args, name) for name in PROVIDER_FIELDS if getattr(args, name) is not None}
    for name in args.clear or ():
        if name in changes:
            raise CliError(f"{option(name)} and --clear {name.replace('_', '-')} contradict each other")
        changes[name] = None
    if not changes:
        raise CliError("nothing to change: give at least one of "
                       + ", ".join(option(n) for n in PROVIDER_FIELDS) + " or --clear")
    emit(run_in_transaction(container, lambda s: provider_with_lti(s, s.exams.update_provider(args.name, **changes))))


def cmd_provider_remove(args, container, settings) -> None:
    emit({"removed": provider_json(run_in_transaction(container, lambda s: s.exams.remove_provider(args.name)))})


def cmd_staff_add(args, container, settings) -> None:
    added = run_in_transaction(container, lambda s: s.users.add_course_role(args.username, args.course_id, args.role))
    emit({"username": args.username, "course_id": args.course_id, "role": args.role, "added": added})


def cmd_staff_remove(args, container, settings) -> None:
    removed = run_in_transaction(container, lambda s: s.users.remove_course_role(args.username, args.course_id,
                                                                                 args.role))
    emit({"username": args.username, "course_id": args.course_id, "role": args.role, "removed": removed})


def cmd_staff_list(args, container, settings) -> None:
    if args.course_id is not None:
        check_course_key(args.course_id)
    roles = run_in_transaction(container, lambda s: s.users.course_roles(args.course_id))
    emit([{"username": username, "course_id": course_id, "role": role} for username, course_id, role in roles])


STAFF_COLUMNS = ("username", "email", "role", "course_id")


def read_staff_csv(path: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a bulk staff CSV as (line number, {column: value}); a CliError naming file:line otherwise."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise CliError(f"{path}:{line}: not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x}); "
                       "save the CSV as UTF-8") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if "\x00" in text:
        raise CliError(f"{path}:{text.count(chr(10), 0, text.index(chr(0))) + 1}: a NUL byte: not a text CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    lines: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for fields in reader:
            if fields:  # blank lines are skipped
                lines.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as exc:
        what = ("unbalanced quote: a field opened with \" is never closed" if "end of data" in str(exc)
                else f"misplaced quote ({exc}): quote the whole field and double the quotes inside it")
        raise CliError(f"{path}:{start}: {what}") from None
    if not lines:
        return []
    (header_line, header), body = lines[0], lines[1:]
    header = [name.strip() for name in header]
    missing = [name for name in STAFF_COLUMNS if name not in header]
    if missing:
        raise CliError(f"{path}:{header_line}: the header lacks {', '.join(missing)}; expected the columns "
                       f"{','.join(STAFF_COLUMNS)}")
    rows = []
    for number, fields in body:
        if len(fields) != len(header):
            raise CliError(f"{path}:{number}: {len(fields)} fields, expected {len(header)} ({','.join(header)})")
        rows.append((number, {name: value.strip() for name, value in zip(header, fields)}))
    return rows


def cmd_staff_import(args, container, settings) -> None:
    rows = read_staff_csv(args.file)

    def work(services):
        added = 0
        for number, row in rows:
            try:
                added += services.users.add_course_role(row["username"], row["course_id"], row["role"],
                                                        email=row["email"])
            except InvalidValue as exc:  # the transaction is rolled back: nothing of the file is written
                raise CliError(f"{args.file}:{number}: {exc.field}: {exc.detail}") from None
        return added

    added = run_in_transaction(container, work)
    emit({"rows": len(rows), "added": added})


def cmd_token(args, container, settings) -> None:
    from exams.adapters.tokens.lms_jwt import sign_hs256

    check_username(args.username)
    if args.email is not None:
        check_email(args.email)
    secret = settings["exams.jwt.secret_key"]
    if not secret:
        raise CliError("no exams.jwt.secret_key (EXAMS_JWT_SECRET_KEY) is configured: cannot sign a token")
    now = int(time.time())
    claims = {"iss": settings["exams.jwt.issuer"], "aud": settings["exams.jwt.audience"], "iat": now,
              "exp": now + args.ttl, "preferred_username": args.username, "administrator": args.staff,
              "email": args.email or f"{args.username}@example.com", "version": "1.2.0", "is_restricted": False,
              "scopes": ["user_id", "email", "profile"], "filters": []}
    if args.user_id is not None:
        claims["user_id"] = args.user_id
    print(sign_hs256(claims, secret))


def cmd_access_token_jwks(args, container, settings) -> None:
    """The public keys of exam access tokens, for the LMS's TOKEN_SIGNING JWT_PUBLIC_SIGNING_JWK_SET."""
    emit(container.access_tokens().public_jwks())


def cmd_expire(args, container, settings) -> None:
    total = 0
    while True:
        count = run_in_transaction(container, lambda s: s.attempts.expire_overdue(batch=500))
        total += count
        if count < 500:
            break
    emit({"submitted": total})


# -- learner emails (docs/lms.md) -------------------------------------------------------------------
def _mail_delivery(container):
    from exams.units import build_mail_delivery

    delivery = build_mail_delivery(container)
    if delivery is None:
        raise CliError("exams.email.backend is none: learner emails are off (see docs/lms.md)")
    return delivery


def cmd_mail_send(args, container, settings) -> None:
    emit(_mail_delivery(container).send_due(ignore_backoff=args.all).as_dict())


def _mail_outbox_work(container, work):
    from exams.adapters.sql.mail_outbox import SqlMailOutbox

    return run_in_transaction(container, lambda services: work(SqlMailOutbox(services.session)))


def cmd_mail_status(args, container, settings) -> None:
    status = _mail_outbox_work(container, lambda box: box.status(limit=args.limit))
    emit({"pending": status.pending, "sent": status.sent, "failed": status.failed,
          "oldest_pending": status.oldest_pending,
          "failures": [{"id": i, "to": to, "subject": subject, "tries": tries, "error": error}
                       for i, to, subject, tries, error in status.failures]})


def cmd_mail_retry(args, container, settings) -> None:
    clock = container.clock()
    emit({"requeued": _mail_outbox_work(container, lambda box: box.requeue_failed(clock.now()))})


def cmd_demo(args, container, settings) -> None:
    from exams.demo import seed

    emit_text = seed(container, settings, config_path=args.config)
    print(emit_text)


def cmd_devtool(args, container, settings) -> None:
    from urllib.parse import urlsplit

    from exams.devtool import DEFAULT_URL, DevtoolError, ensure_registered, serve
    from exams.listen import address_problem

    url = args.url or DEFAULT_URL
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CliError(f"--url: not a port in {url!r}") from None
    if parts.hostname and (problem := address_problem(parts.hostname, port)):
        raise CliError(f"{problem}{'' if args.url else ' (--url names another)'}", FAILURE)
    try:
        config = ensure_registered(container, settings, base_url=url)
    except DevtoolError as exc:
        raise CliError(str(exc)) from None
    print(f"development proctoring tool on {config.base_url} (client_id {config.client_id}); Ctrl-C stops it",
          file=sys.stderr)
    try:
        serve(config)
    except OSError as exc:  # taken between the check and now, or not ours to bind
        raise CliError(address_problem(parts.hostname, port) or f"cannot listen on {url}: {exc.strerror}",
                       FAILURE) from None


# -- event bus (docs/events.md) ----------------------------------------------------------------
def _require_bus(settings) -> None:
    if settings["exams.event_bus.backend"] == "none":
        raise CliError("exams.event_bus.backend is none: no event bus is configured (see docs/events.md)")


def _setup_logging(config_uri: str) -> None:
    try:
        plaster.setup_logging(config_uri)
    except Exception:  # an ini without logging sections: plain stderr logging
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")


def _stop_on_signals():
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def cmd_relay(args, container, settings) -> None:
    _require_bus(settings)
    relay = build_relay(container)
    if args.once:
        totals = {"leader": False, "published": 0, "failed": 0, "dead": 0, "purged": 0}
        while True:
            result = relay.tick()
            totals["leader"] = totals["leader"] or result.leader
            for key in ("published", "failed", "dead", "purged"):
                totals[key] += getattr(result, key)
            totals["held_back"] = result.held_back
            if not (result.more and result.published):
                break
        relay.release()
        emit(totals)
        return
    _setup_logging(args.config)
    relay.run(_stop_on_signals(), interval=settings["exams.event_bus.relay_interval"])


def cmd_consume_roles(args, container, settings) -> None:
    _require_bus(settings)
    if args.once:
        emit(build_role_consumer(container, block_ms=args.block_ms).drain(block_ms=args.block_ms))
        return
    _setup_logging(args.config)
    build_role_consumer(container).run(_stop_on_signals())


def _since(text: str):
    from datetime import datetime, timezone

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _operator_call(fn):
    from exams.delivery.operator import OperatorError

    try:
        return fn()
    except OperatorError as exc:
        raise CliError(str(exc)) from None


def cmd_events_status(args, container, settings) -> None:
    emit(_operator_call(lambda: build_outbox_operator(container).status(limit=args.limit)))


def cmd_events_replay(args, container, settings) -> None:
    emit(_operator_call(lambda: build_outbox_operator(container).replay(
        event_id=args.event_id, since=args.since, force=args.force)))


def cmd_events_purge(args, container, settings) -> None:
    days = args.older_than_days
    if days is None and args.event_id is None:
        days = settings["exams.event_bus.outbox_retention_days"]
    emit(_operator_call(lambda: build_outbox_operator(container).purge(older_than_days=days,
                                                                       event_id=args.event_id)))


# -- exams -c INI check (docs/deployment.md) ----------------------------------------------------------
def cmd_check(args) -> int:
    """Validate the settings as start-up does and, in production mode, list every unsafe one (exit 1)."""
    from exams import production

    try:
        settings = load_settings(args.config)
        found = production.problems(settings.values) if args.production else []
        # Settings checked when their adapter is built (emails, edx-proctoring forwarding): build them, offline.
        container = build_container(settings)
        for build in (container.mailer, container.legacy_proctoring):
            try:
                build()
            except settings_module.SettingsError as exc:
                found.append(str(exc))
    except production.ProductionError as exc:
        found = exc.problems
    except settings_module.SettingsError as exc:
        found = [str(exc)]
    for problem in found:
        print(f"{args.config}: {problem}")
    if found:
        print(f"exams: {len(found)} problem(s) in {args.config}", file=sys.stderr)
        return 1
    production_mode = args.production or settings["exams.production"]
    mode = "production" if production_mode else "development (exams.production is off)"
    print(f"{args.config}: settings OK, {mode}")
    return 0


# -- parser -----------------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CliError(message)


MAX_INT = 2**31 - 1  # the integer columns and what the API accepts (user ids, counts)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 < value <= MAX_INT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_INT}: {text!r}")
    return value


def day_count(text: str) -> int:
    """A number of days: 1 to 100 years (a negative count would put the cut-off in the future)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 < value <= 36500:
        raise argparse.ArgumentTypeError(f"must be from 1 to 36500: {text!r}")
    return value


def _provider_options(parser, required: bool) -> None:
    parser.add_argument("--name", required=True, help="machine name, e.g. proctorio (letters, digits, _ - .)")
    parser.add_argument("--verbose-name", required=required, help="the name learners see")
    parser.add_argument("--org-key", help="only courses of this organisation may use it")
    parser.add_argument("--tech-support-email")
    parser.add_argument("--tech-support-phone")
    parser.add_argument("--tech-support-url")


def build_parser() -> Parser:
    parser = Parser(prog="exams", description="Operator commands of the exams service.")
    parser.add_argument("-c", "--config", required=True, help="the ini file (development.ini, production.ini)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(func=cmd_migrate)

    provider = sub.add_parser("provider", help="proctoring providers").add_subparsers(dest="action", required=True,
                                                                                      parser_class=Parser)
    add = provider.add_parser("add", help="register a proctoring provider")
    _provider_options(add, required=True)
    lti = add.add_argument_group("LTI 1.3 tool registration (see docs/lti.md)")
    lti.add_argument("--lti-client-id", help="the client_id the tool signs its messages with")
    lti.add_argument("--lti-login-url", help="the tool's OIDC login initiation URL")
    lti.add_argument("--lti-launch-url", help="the tool's launch URL (target_link_uri)")
    lti.add_argument("--lti-redirect-uri", action="append", help="a redirect URI of the tool (repeatable; "
                     "default: the launch URL)")
    keys = lti.add_mutually_exclusive_group()
    keys.add_argument("--lti-jwks-url", help="the tool's JWKS URL")
    keys.add_argument("--lti-public-key-file", help="a file with the tool's public key (PEM, JWK or JWKS)")
    lti.add_argument("--lti-deployment-id", help='default "1"')
    add.set_defaults(func=cmd_provider_add)
    provider.add_parser("list", help="list providers").set_defaults(func=cmd_provider_list)
    update = provider.add_parser("update", help="change a provider's fields (not its name)")
    _provider_options(update, required=False)
    update.add_argument("--clear", action="append", type=lambda v: v.replace("-", "_"),
                        choices=[f for f in PROVIDER_FIELDS if f != "verbose_name"],
                        help="empty this field (repeatable): org_key, tech_support_email, ...")
    update.set_defaults(func=cmd_provider_update)
    remove = provider.add_parser("remove", help="delete a provider that no course uses")
    remove.add_argument("--name", required=True)
    remove.set_defaults(func=cmd_provider_remove)

    staff = sub.add_parser("staff", help="course staff roles").add_subparsers(dest="action", required=True,
                                                                              parser_class=Parser)
    for name, func in (("add", cmd_staff_add), ("remove", cmd_staff_remove)):
        p = staff.add_parser(name)
        p.add_argument("--username", required=True)
        p.add_argument("--course-id", required=True)
        p.add_argument("--role", required=True, choices=["staff", "instructor", "limited_staff"])
        p.set_defaults(func=func)
    listing = staff.add_parser("list", help="course staff roles, of every course or of one")
    listing.add_argument("--course-id")
    listing.set_defaults(func=cmd_staff_list)
    imp = staff.add_parser("import", help="CSV with columns username,email,role,course_id")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_staff_import)

    token = sub.add_parser("token", help="print an LMS-style JWT for calling the API with curl")
    token.add_argument("--username", required=True)
    token.add_argument("--user-id", type=positive_int)
    token.add_argument("--email")
    token.add_argument("--staff", action="store_true", help="global staff (administrator claim)")
    token.add_argument("--ttl", type=positive_int, default=3600, help="seconds (default 3600)")
    token.set_defaults(func=cmd_token)

    sub.add_parser("access-token-jwks", help="print the public JWKS the LMS verifies exam access tokens with"
                   ).set_defaults(func=cmd_access_token_jwks)
    sub.add_parser("expire", help="submit every in-progress attempt past its deadline").set_defaults(func=cmd_expire)
    mail = sub.add_parser("mail", help="the learner email outbox").add_subparsers(dest="action", required=True,
                                                                                 parser_class=Parser)
    send = mail.add_parser("send", help="deliver the emails that are due (for cron, or after fixing the server)")
    send.add_argument("--all", action="store_true", help="also the ones waiting for their next retry")
    send.set_defaults(func=cmd_mail_send)
    mail_status = mail.add_parser("status", help="pending, sent and failed counts; the last failures")
    mail_status.add_argument("--limit", type=positive_int, default=20, help="failures listed (default 20)")
    mail_status.set_defaults(func=cmd_mail_status)
    mail.add_parser("retry", help="make every failed email pending again").set_defaults(func=cmd_mail_retry)
    sub.add_parser("demo", help="seed a demo course and print curl commands").set_defaults(func=cmd_demo)
    devtool = sub.add_parser("devtool", help="run the development LTI proctoring tool (exams.demo.enabled only)")
    devtool.add_argument("--url", help="where the tool listens (default http://localhost:18741)")
    devtool.set_defaults(func=cmd_devtool)

    relay = sub.add_parser("relay", help="publish the event outbox to the event bus (runs until stopped)")
    relay.add_argument("--once", action="store_true", help="publish what is due now, then exit")
    relay.set_defaults(func=cmd_relay)
    roles = sub.add_parser("consume-roles", help="apply course access role events from the LMS (runs until stopped)")
    roles.add_argument("--once", action="store_true", help="apply what is waiting now, then exit")
    roles.add_argument("--block-ms", type=positive_int, default=200, help="with --once: wait this long for more")
    roles.set_defaults(func=cmd_consume_roles)
    events = sub.add_parser("events", help="watch and repair the event outbox").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    status = events.add_parser("status", help="counts, relay lease, events held for an operator")
    status.add_argument("--limit", type=positive_int, default=50, help="held events listed (default 50)")
    status.set_defaults(func=cmd_events_status)
    replay = events.add_parser("replay", help="send held events again, or published ones with --force")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--event-id")
    which.add_argument("--since", type=_since, help="ISO 8601; events created at or after it")
    replay.add_argument("--force", action="store_true", help="publish already published events again")
    replay.set_defaults(func=cmd_events_replay)
    purge = events.add_parser("purge", help="delete published events older than N days, or one held event")
    what = purge.add_mutually_exclusive_group()
    what.add_argument("--older-than-days", type=day_count,
                      help="1 or more (default: exams.event_bus.outbox_retention_days)")
    what.add_argument("--event-id", help="give up on this held (dead or unencodable) event")
    purge.set_defaults(func=cmd_events_purge)
    check = sub.add_parser("check", help="validate the settings; in production mode list every unsafe one (exit 1)")
    check.add_argument("--production", action="store_true", help="apply the production checks even if "
                       "exams.production is off")
    check.set_defaults(func=None)
    add_console_commands(sub)
    return parser



# -- operators' console (docs/console.md): a separate addition ---------------------------------------------------------
def cmd_console_login(args, container, settings) -> None:
    """Print a one-time sign-in link to the console (development: exams.demo.enabled only)."""
    from exams.adapters.http.console.session import LINK_TTL, SessionCookies

    if not settings["exams.demo.enabled"]:
        raise CliError("console-login is for development: it needs exams.demo.enabled = true; in production "
                       "sign in with the LMS (docs/console.md)")

    def check(services):
        user = services.repos.users.get_by_username(args.username)
        if user is None:
            raise CliError(f"no user {args.username!r}: sign in once through the LMS, or add a course role with "
                           "`exams staff add`")
        if not services.console.operator(user).may_enter:
            raise CliError(f"{args.username!r} is neither global staff nor course staff: the console would turn "
                           "them away (`exams staff add` gives a course role)")

    run_in_transaction(container, check)
    cookies = SessionCookies(container.console_session_secret(), secure=False, ttl=1)
    token = cookies.link_token(args.username, container.clock().now())
    print(f"{settings['exams.root_url']}/console/login/link?token={token}")
    print(f"(valid for {LINK_TTL // 60} minutes, once)", file=sys.stderr)


def _registration_of(services, provider_name: str):
    provider = services.repos.providers.get_by_name(provider_name)
    if provider is None:
        raise CliError(f"no provider {provider_name!r} (see `exams provider list`)")
    registration = services.lti.registration(provider.lti_configuration_id)
    if registration is None:
        raise CliError(f"provider {provider_name!r} has no LTI registration: it has no platform key")
    return registration


def cmd_lti_key_rotate(args, container, settings) -> None:
    """A new LTI platform key for a provider's registration; the old one stays in its JWKS for the grace period."""
    def work(services):
        old = _registration_of(services, args.provider)
        new = services.lti.rotate_platform_key(old.registration_id, args.grace_hours * 3600)
        return {"provider": args.provider, "registration_id": new.registration_id, "old_kid": old.platform_kid,
                "new_kid": new.platform_kid, "old_key_published_until": new.retiring_until}

    emit(run_in_transaction(container, work))


def cmd_lti_key_retire(args, container, settings) -> None:
    def work(services):
        registration = _registration_of(services, args.provider)
        return {"provider": args.provider, "retired": services.lti.retire_platform_key(registration.registration_id)}

    emit(run_in_transaction(container, work))


def cmd_access_token_key_new(args, container, settings) -> None:
    """A new exam access-token key, and the JWKS the LMS must accept while the processes switch to it."""
    from exams.adapters.tokens.access_tokens import JwcryptoAccessTokenSigner, generate_private_jwk

    new = generate_private_jwk()
    current = container.access_tokens().public_jwks()["keys"]
    added = JwcryptoAccessTokenSigner(new, issuer=settings["exams.access_token.issuer"]).public_jwks()["keys"]
    emit({"private_jwk": new, "lms_jwks_during_rotation": {"keys": current + added},
          "lms_jwks_after_rotation": {"keys": added},
          "steps": ["give the LMS lms_jwks_during_rotation (TOKEN_SIGNING JWT_PUBLIC_SIGNING_JWK_SET)",
                    "set exams.access_token.private_jwk to private_jwk in every process and restart them",
                    "once no token of the old key can be alive (a minute), give the LMS lms_jwks_after_rotation"]})


def grace_hours(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 2160:
        raise argparse.ArgumentTypeError(f"must be 0 to 2160 hours (90 days): {text!r}")
    return value


def add_console_commands(sub) -> None:
    login = sub.add_parser("console-login", help="print a one-time sign-in link to the console (development)")
    login.add_argument("--username", required=True)
    login.set_defaults(func=cmd_console_login)
    lti_key = sub.add_parser("lti-key", help="rotate a provider's LTI platform signing key (docs/lti.md)"
                             ).add_subparsers(dest="action", required=True, parser_class=Parser)
    rotate = lti_key.add_parser("rotate", help="sign with a new key; publish the old one for a grace period")
    rotate.add_argument("--provider", required=True, help="the provider's name")
    rotate.add_argument("--grace-hours", type=grace_hours, default=72,
                        help="hours the old key stays in the JWKS (default 72; 0: at once)")
    rotate.set_defaults(func=cmd_lti_key_rotate)
    retire = lti_key.add_parser("retire", help="remove the previous key from the JWKS now")
    retire.add_argument("--provider", required=True)
    retire.set_defaults(func=cmd_lti_key_retire)
    access = sub.add_parser("access-token-key", help="rotate the exam access-token key (docs/console.md)"
                            ).add_subparsers(dest="action", required=True, parser_class=Parser)
    access.add_parser("new", help="print a new key and the JWKS the LMS needs while switching to it"
                      ).set_defaults(func=cmd_access_token_key_new)


def _fail(message: str, status: int) -> int:
    """The one error path: one line on stderr."""
    text = " ".join(str(message).split()) or "failed"
    print(f"exams: error: {text}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    from sqlalchemy.exc import DBAPIError

    try:
        args = build_parser().parse_args(argv)
        if args.command == "check":
            return cmd_check(args)
        settings = load_settings(args.config)
        container = build_container(settings)
        args.func(args, container, settings)
        return 0
    except BrokenPipeError:  # the reader went away (`exams ... | head`): not an error worth a line
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILURE
    except CliError as exc:
        return _fail(str(exc), exc.status)
    except settings_module.SettingsError as exc:
        return _fail(str(exc), USAGE_ERROR)
    except InvalidValue as exc:
        return _fail(f"{option(exc.field)}: {exc.detail}", USAGE_ERROR)
    except DomainError as exc:
        return _fail(exc.detail, USAGE_ERROR)
    except DBAPIError as exc:
        if os.environ.get("EXAMS_DEBUG"):
            raise
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        return _fail(f"database: {reason} (is it running, and migrated with 'exams -c {args.config} migrate'?)",
                     FAILURE)
    except Exception as exc:  # an operator gets one line, not a traceback; details with EXAMS_DEBUG=1
        if os.environ.get("EXAMS_DEBUG"):
            raise
        return _fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", FAILURE)


if __name__ == "__main__":
    sys.exit(main())
