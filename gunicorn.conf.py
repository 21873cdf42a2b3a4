from exams.gunicorn_config import *  # noqa: F401,F403  (gunicorn --paste production.ini: settings from [server:main])
