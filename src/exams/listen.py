"""The address an ini file's ``[server:main]`` listens on, and whether it is free: one line, no traceback.

``scripts/run`` asks before starting ``pserve development.ini``; ``exams devtool`` asks about its own URL.

    python -m exams.listen --check development.ini      # exit 1 with one line when the port is taken

The address is waitress's ``listen`` (or ``host`` and ``port``) or gunicorn's ``bind``.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys


def parse_listen(server_settings: dict) -> tuple[str, int]:
    listen = (server_settings.get("listen") or server_settings.get("bind") or "").split()
    if len(listen) > 1:
        raise SystemExit("exams: error: give one address in [server:main] listen")
    if listen:
        host, _, port = listen[0].rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
    else:
        host, port = server_settings.get("host", "0.0.0.0"), server_settings.get("port", "8080")
    try:
        return host, int(port)
    except ValueError:
        raise SystemExit(f"exams: error: bad port {port!r} in [server:main]") from None


def address_problem(host: str, port: int) -> str | None:
    """Why nothing could listen on host:port now (taken, not ours to bind), as one line; None if it is free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is taken: another process listens there (stop it or use another port)"
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exams.listen",
                                     description="Say whether the ini's [server:main] address is free.")
    parser.add_argument("--check", action="store_true", help="exit 1 with one line if the address is taken")
    parser.add_argument("config_uri", help="the ini file")
    args = parser.parse_args(argv)

    import plaster

    problem = address_problem(*parse_listen(dict(plaster.get_settings(args.config_uri, "server:main"))))
    if problem:
        raise SystemExit(f"exams: error: {problem} ([server:main] listen in {args.config_uri})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
