#!/usr/bin/env bash
# Build the throw-away "compat" virtualenv used by test_openedx_compat.py.
#
# It holds the real Open edX event-bus code (openedx-events + edx-event-bus-redis, which pull in Django),
# kept OUT of the service's own venv: the service must never import Django. The compat test runs a small
# harness with this venv's python in a subprocess and skips loudly if the venv is missing.
#
# Usage: tests/integration/redis/make_compat_venv.sh [VENV_DIR]   (default: $EXAMS_COMPAT_VENV or /tmp/oeventsvenv)
set -euo pipefail

VENV_DIR="${1:-${EXAMS_COMPAT_VENV:-/tmp/oeventsvenv}}"
PYTHON="${PYTHON:-python3}"
# The versions edx-exams pins (event-bus.md, "Snapshots read").
OPENEDX_EVENTS_VERSION="${OPENEDX_EVENTS_VERSION:-10.5.0}"
EVENT_BUS_REDIS_VERSION="${EVENT_BUS_REDIS_VERSION:-0.6.1}"

if [ -x "$VENV_DIR/bin/python" ] && "$VENV_DIR/bin/python" -c "import importlib.util as u, openedx_events, django; assert u.find_spec('edx_event_bus_redis')" 2>/dev/null; then
    echo "compat venv already present: $VENV_DIR"
    exit 0
fi

"$PYTHON" -m venv "$VENV_DIR"
"$VENV_DIR/bin/python" -m pip install --quiet --upgrade pip
"$VENV_DIR/bin/python" -m pip install --quiet \
    "openedx-events==${OPENEDX_EVENTS_VERSION}" \
    "edx-event-bus-redis==${EVENT_BUS_REDIS_VERSION}"
# edx_event_bus_redis reads Django settings at import time, so only locate it here.
"$VENV_DIR/bin/python" -c "import importlib.util as u, openedx_events, django; assert u.find_spec('edx_event_bus_redis'); print('compat venv ready: openedx-events', openedx_events.__version__, 'django', django.get_version())"
