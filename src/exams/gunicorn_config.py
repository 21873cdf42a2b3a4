"""Gunicorn settings from the ini file's ``[server:main]`` section, for ``gunicorn --paste production.ini``.

``gunicorn --paste FILE`` loads the application (``[app:main]``) and the logging sections of the ini
file, but takes its own settings only from a configuration file, ``GUNICORN_CMD_ARGS`` and the command
line. This module is that configuration file: it reads ``[server:main]`` of the ``--paste`` file, so
that one ini file holds everything (``pserve FILE`` reads the same section when it says
``use = egg:gunicorn#main``). The project folder's ``gunicorn.conf.py``, which gunicorn reads from its
working directory, is this module; elsewhere name it with ``-c python:exams.gunicorn_config``.

Every key of ``[server:main]`` but ``use`` must be a gunicorn setting (``bind``, ``workers``,
``threads``, ``worker_class``, ``graceful_timeout``, ...). What wins, strongest first: the command
line, ``GUNICORN_CMD_ARGS``, ``WEB_CONCURRENCY`` (workers) and ``PORT`` (bind) from the environment,
the ini file, then the defaults below (one worker per core).
"""

from __future__ import annotations

import os as _os
import sys as _sys


def _paste_file(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        for option in ("--paste", "--paster"):
            if arg == option and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(option + "="):
                return arg.split("=", 1)[1]
    return None


def _server_settings(argv: list[str]) -> dict[str, str]:
    import shlex

    config_uri = _paste_file(argv) or _paste_file(shlex.split(_os.environ.get("GUNICORN_CMD_ARGS", "")))
    if not config_uri:
        return {}
    import plaster

    path = config_uri.split("#", 1)[0]
    if not _os.path.exists(path):
        return {}  # gunicorn itself says that the file is missing
    try:
        found = plaster.get_settings(path, "server:main")
    except Exception as exc:  # plaster's errors for a missing or unreadable section
        raise SystemExit(f"{path}: cannot read [server:main]: {exc}") from None
    return {key: value for key, value in found.items() if key not in ("use", "here", "__file__")}


def _apply(settings: dict[str, str], scope: dict, environ) -> None:
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    settings = dict(settings)
    host, port = settings.pop("host", None), settings.pop("port", None)
    if host or port:  # the paste runner's spelling
        settings.setdefault("bind", f"{host or '0.0.0.0'}:{port or 8000}")
    if "WEB_CONCURRENCY" in environ:
        settings.pop("workers", None)
    if "PORT" in environ:
        settings.pop("bind", None)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise SystemExit(f"[server:main]: {', '.join(unknown)} is not a gunicorn setting "
                         "(https://docs.gunicorn.org/en/stable/settings.html)")
    scope.update(settings)


workers = int(_os.environ.get("WEB_CONCURRENCY") or 0) or (_os.cpu_count() or 1)
_apply(_server_settings(_sys.argv), globals(), _os.environ)


def _access_logger_class():
    """gunicorn's logger, building each request's access-log line only when a handler will write it.

    ``gunicorn --paste FILE`` configures logging from the ini file, and gunicorn then builds the access
    line of every request (its atoms, a log record; docs/performance.md) even when, as in
    production.ini, no handler takes ``gunicorn.access`` and the line is dropped. Access logs come
    on with ``accesslog = -`` in ``[server:main]`` or with a ``[logger_gunicorn_access]`` that has a handler.
    """
    import logging

    from gunicorn.glogging import Logger

    class AccessLoggedWhenWritten(Logger):
        def setup(self, cfg):
            super().setup(cfg)  # the handlers: accesslog, syslog, then the logging configuration
            self._access_log_enabled = self._compute_access_log_enabled()

        def _compute_access_log_enabled(self):
            return (super()._compute_access_log_enabled() and self.access_log.isEnabledFor(logging.INFO)
                    and self.access_log.hasHandlers())

    return AccessLoggedWhenWritten


logger_class = _access_logger_class()

