"""A pre-forking runner: several waitress processes serving one address.

One waitress process runs Python on one core at a time (the GIL), however many threads it has.
This runner forks ``--workers`` processes (default: one per core) that each load the app and serve
the ``[server:main]`` address of the ini file with waitress, and restarts a worker that dies.
SIGTERM or SIGINT stops them all.

On Linux each worker listens on its own socket of one ``SO_REUSEPORT`` group, so the kernel spreads
new connections evenly over the workers. With one shared listening socket, whichever worker wakes
first accepts: under a burst of keep-alive connections one worker took all 16 of the benchmark's and
the other stood idle. Where ``SO_REUSEPORT`` is missing, the workers share one socket.

    python -m exams.serve production.ini --workers 2

Every ``[server:main]`` option of waitress (threads, trusted_proxy, ...) applies to each worker;
``listen`` (or ``host``/``port``) names the address. The ini stays usable with ``pserve`` as it is.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import time

log = logging.getLogger("exams.serve")

# Options that name the address: the runner binds it, the workers get the socket.
ADDRESS_OPTIONS = ("listen", "host", "port", "unix_socket", "unix_socket_perms", "use")


def parse_listen(server_settings: dict) -> tuple[str, int]:
    listen = (server_settings.get("listen") or "").split()
    if len(listen) > 1:
        raise SystemExit("exams.serve: give one address in [server:main] listen")
    if listen:
        host, _, port = listen[0].rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
    else:
        host, port = server_settings.get("host", "0.0.0.0"), server_settings.get("port", "8080")
    try:
        return host, int(port)
    except ValueError:
        raise SystemExit(f"exams.serve: bad port {port!r} in [server:main]") from None


REUSE_PORT = hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int, backlog: int | None, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to the address; listening unless ``backlog`` is None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    if backlog is not None:
        sock.listen(backlog)
        sock.setblocking(False)
    return sock


def address_problem(host: str, port: int) -> str | None:
    """Why nothing could listen on host:port now (taken, not ours to bind), as one line; None if it is free."""
    try:
        bind(host, port, None, reuse_port=False).close()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is taken: another process listens there (stop it or use another port)"
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def run_worker(config_uri: str, sock: socket.socket, options: dict) -> None:
    """In a forked child: load the app (its own engine, pool and threads) and serve the socket."""
    import waitress
    from pyramid.paster import get_app

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    app = get_app(config_uri, "main")
    waitress.serve(app, sockets=[sock], _quiet=True, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exams.serve",
                                     description="Serve the app with several waitress processes on one socket.")
    parser.add_argument("config_uri", help="the ini file (its [app:main] and [server:main])")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    parser.add_argument("--check", action="store_true", help="only say whether the address is free (exit 1 if not)")
    args = parser.parse_args(argv)

    import plaster
    from pyramid.paster import setup_logging

    config_uri = args.config_uri
    if args.check:
        problem = address_problem(*parse_listen(dict(plaster.get_settings(config_uri, "server:main"))))
        if problem:
            raise SystemExit(f"exams: error: {problem} ([server:main] listen in {config_uri})")
        return 0
    setup_logging(config_uri)
    server_settings = dict(plaster.get_settings(config_uri, "server:main"))
    host, port = parse_listen(server_settings)
    options = {k: v for k, v in server_settings.items() if k not in ADDRESS_OPTIONS}
    backlog = int(options.get("backlog", 1024))
    if port == 0 and REUSE_PORT:
        raise SystemExit("exams.serve: give a port in [server:main] listen (each worker binds it)")
    try:
        if REUSE_PORT:
            # Fail now if the address is taken; each worker binds and listens on its own socket.
            bind(host, port, None, reuse_port=True).close()
            shared = None
        else:
            shared = bind(host, port, backlog, reuse_port=False)
    except OSError:
        raise SystemExit(f"exams: error: {address_problem(host, port) or f'cannot listen on {host}:{port}'}") from None
    # Import the application's modules once, before forking, so that the workers share those pages.
    import exams.app  # noqa: F401

    children: dict[int, int] = {}
    stopping = False

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run_worker(config_uri, shared or bind(host, port, backlog, reuse_port=True), options)
            except BaseException:  # the parent logs the exit and starts another
                logging.getLogger("exams.serve").exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        children[pid] = slot

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(max(1, args.workers)):
        spawn(slot)
    log.warning("serving on http://%s:%d with %d worker processes", host, port, len(children))
    print(f"Serving on http://{host}:{port} ({len(children)} workers)", file=sys.stderr, flush=True)

    last_restart = 0.0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        slot = children.pop(pid, None)
        if slot is None or stopping:
            continue
        log.error("worker %d exited (status %d); starting another", pid, status)
        # Do not spin when workers die at start-up (bad settings, database down).
        if time.monotonic() - last_restart < 1:
            time.sleep(1)
        last_restart = time.monotonic()
        spawn(slot)
    if shared is not None:
        shared.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
