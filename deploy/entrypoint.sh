#!/bin/sh
# The image's entry point: `web` (the default) runs gunicorn on the container ini; any exams command
# (relay, consume-roles, expire, migrate, check, ...) runs `exams -c $EXAMS_CONFIG <command>`; an executable
# (sh, python3, exams, gunicorn) runs as given.
set -e
if [ "$#" -eq 0 ] || [ "$1" = web ]; then
    [ "$#" -gt 0 ] && shift
    if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
        # Multi-process metrics: one fresh folder per server start (stale files would add dead workers' counts).
        rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    fi
    exec gunicorn --paste "$EXAMS_CONFIG" "$@"
fi
if command -v "$1" >/dev/null 2>&1; then
    exec "$@"
fi
unset PROMETHEUS_MULTIPROC_DIR  # one-process commands export nothing to the web server's folder
exec exams -c "$EXAMS_CONFIG" "$@"
