"""gunicorn builds a request's access-log line only when something will write it (exams.gunicorn_config)."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

import pytest
from gunicorn.config import Config

from exams import gunicorn_config

LOGGING = """
[loggers]
keys = root{extra_keys}

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console
{extra}
[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[formatter_generic]
format = %(message)s
"""

ACCESS_LOGGER = """
[logger_access]
level = INFO
handlers = console
propagate = 0
qualname = gunicorn.access
"""


@pytest.fixture(autouse=True)
def restore_logging():
    loggers = [logging.getLogger(), logging.getLogger("gunicorn.access"), logging.getLogger("gunicorn.error")]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    yield
    for lg, level, handlers, propagate, disabled in saved:
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled


def logger_for(tmp_path, *, access_logger: bool = False, **settings):
    ini = tmp_path / "production.ini"
    ini.write_text(LOGGING.format(extra_keys=", access" if access_logger else "",
                                  extra=ACCESS_LOGGER if access_logger else ""))
    cfg = Config()
    cfg.set("logconfig", str(ini))  # as `gunicorn --paste production.ini` sets it
    for name, value in settings.items():
        cfg.set(name, value)
    return gunicorn_config.logger_class(cfg)


def test_the_project_folders_gunicorn_conf_selects_the_logger():
    scope = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    assert scope["logger_class"] is gunicorn_config.logger_class


def test_no_access_line_is_built_when_no_handler_takes_it(tmp_path):
    assert not logger_for(tmp_path).access_log_enabled


def test_accesslog_in_the_server_section_turns_access_lines_on(tmp_path):
    assert logger_for(tmp_path, accesslog="-").access_log_enabled


def test_a_handler_for_gunicorn_access_in_the_logging_sections_turns_them_on(tmp_path):
    assert logger_for(tmp_path, access_logger=True).access_log_enabled
