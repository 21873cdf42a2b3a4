"""The container image (deploy/Dockerfile), built with Podman (scripts/image) and run against loopback servers.

One test walks the image end to end, so that pytest-xdist never builds it twice at once: migrate, `check`, the web
server's /health/ and a learner's attempt over HTTP, the relay publishing the attempt's event to Redis, the image's
user, health check and absence of this machine's pip configuration and certificates. It runs on this project's
machines (Podman, runc and debootstrap, installed by scripts/image where missing); where no container engine can run
(not root, no podman) it is skipped with the reason. EXAMS_SKIP_IMAGE=1 skips it on purpose.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "image-test-jwt-secret-0123456789"
ISSUER = "https://lms.example.test/oauth2"


def engine_unavailable() -> str | None:
    if os.environ.get("EXAMS_SKIP_IMAGE"):
        return "EXAMS_SKIP_IMAGE is set"
    if not shutil.which("podman") and os.geteuid() != 0:
        return "no podman, and not root to install it (apt-get install podman runc debootstrap)"
    if os.geteuid() != 0:
        return "rootless Podman is not set up by scripts/image on this machine kind; run the tests as root"
    if not os.environ.get("EXAMS_TEST_POSTGRES_URL"):
        return "needs the PostgreSQL server scripts/test starts (EXAMS_TEST_POSTGRES_URL)"
    return None


pytestmark = pytest.mark.skipif(engine_unavailable() is not None, reason=f"image test skipped: {engine_unavailable()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def podman_env() -> dict:
    out = subprocess.run([str(ROOT / "scripts" / "image"), "--env"], capture_output=True, text=True, check=True).stdout
    return {**os.environ, **dict(line.split("=", 1) for line in out.splitlines())}


def podman(env, *args, check=True, timeout=120) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(f"podman {' '.join(args[:3])}... exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def image_database() -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from exams.adapters.sql.session import make_engine

    base = os.environ["EXAMS_TEST_POSTGRES_URL"]
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS exams_image WITH (FORCE)")
        conn.exec_driver_sql("CREATE DATABASE exams_image")
    admin.dispose()
    return make_url(base).set(database="exams_image").render_as_string(hide_password=False)


def settings_env(database_url: str, redis_url: str, port: int) -> dict:
    from jwcrypto import jwk

    return {
        "SQLALCHEMY_URL": database_url,
        "EXAMS_ROOT_URL": "https://exams.example.test",
        "EXAMS_LMS_ROOT_URL": "https://lms.example.test",
        "EXAMS_LEARNING_MFE_URL": "https://apps.example.test/learning",
        "EXAMS_JWT_ISSUER": ISSUER,
        "EXAMS_JWT_SECRET_KEY": SECRET,
        "EXAMS_ACCESS_TOKEN_PRIVATE_JWK": jwk.JWK.generate(kty="RSA", size=2048, kid="image").export_private(),
        "EXAMS_ACCESS_TOKEN_ISSUER": "https://exams.example.test",
        "EXAMS_LTI_LAUNCH_COOKIE_SECRET": "image-test-launch-cookie-secret-0123",
        "EXAMS_CORS_ORIGINS": "https://apps.example.test",
        "EXAMS_EVENT_BUS_BACKEND": "redis",
        "EXAMS_EVENT_BUS_REDIS_URL": redis_url,
        "EXAMS_EVENT_BUS_TOPIC_PREFIX": "imagetest",
        "EXAMS_PORT": str(port),
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} --workers 2",
    }


def token(username: str, user_id: int, staff: bool = False) -> str:
    from exams.adapters.tokens.lms_jwt import sign_hs256

    now = int(time.time())
    return sign_hs256({"iss": ISSUER, "aud": "lms-key", "iat": now, "exp": now + 600, "preferred_username": username,
                       "administrator": staff, "email": f"{username}@example.com", "user_id": user_id,
                       "version": "1.2.0", "is_restricted": False}, SECRET)


def call(base: str, method: str, path: str, body=None, jwt: str | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Content-Type": "application/json", **({"Authorization": f"JWT {jwt}"} if jwt else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, response.headers, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def certificates(pem: str) -> set[str]:
    return set(re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S))


def test_the_image_migrates_serves_a_learner_and_relays_to_redis(redis_server, tmp_path):
    env = podman_env()
    IMAGE = env["EXAMS_IMAGE"]
    started = time.monotonic()
    build = subprocess.run([str(ROOT / "scripts" / "image")], capture_output=True, text=True, env=env, timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr[-4000:]
    build_seconds = time.monotonic() - started

    inspect = json.loads(podman(env, "image", "inspect", IMAGE).stdout)[0]
    config = inspect["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/exams-entrypoint"] and config["Cmd"] == ["web"]
    assert "/health/" in " ".join((inspect.get("Healthcheck") or config.get("Healthcheck"))["Test"])

    # Nothing of the build machine's pip set-up or certificates in the final image.
    probe = podman(env, "run", "--rm", "--network=none", IMAGE, "sh", "-c",
                   "ls -a /etc/pip.conf /etc/xdg/pip /root/.config/pip /root/.pip /var/lib/exams/.config/pip 2>/dev/null;"
                   " echo ---; (pip config list || python3 -m pip config list) 2>/dev/null; echo ---; cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null; true").stdout
    files, pip_config, bundle = probe.split("---\n", 2)
    assert files.strip() == "" and pip_config.strip() == "", probe[:500]
    assert podman(env, "run", "--rm", "--network=none", IMAGE, "sh", "-c", "test -e /opt/exams/bin/pip",
                  check=False).returncode == 1  # the runtime has no installer
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    stock = "".join(p.read_text() for p in Path("/usr/share/ca-certificates").rglob("*.crt"))
    host_only = certificates(host_bundle) - certificates(stock)
    assert not host_only & certificates(bundle), "the build machine's own CA certificates are in the image"
    assert bundle != host_bundle

    port = free_port()
    variables = settings_env(image_database(), redis_server, port)
    env_file = tmp_path / "exams.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    run = ("run", "--rm", "--no-healthcheck", "--network=host", "--env-file", str(env_file), IMAGE)

    migrated = podman(env, *run, "migrate")
    assert json.loads(migrated.stdout)["migrated"] is True
    checked = podman(env, *run, "check")
    assert "settings OK, production" in checked.stdout
    # Production mode in the image: a missing key stops every process with one line naming the setting.
    refused = podman(env, "run", "--rm", "--no-healthcheck", "--network=host", "--env-file", str(env_file),
                     "-e", "EXAMS_ACCESS_TOKEN_PRIVATE_JWK=", IMAGE, "expire", check=False)
    assert refused.returncode == 2 and "'exams.access_token.private_jwk' is empty" in refused.stderr
    assert refused.stderr.count("\n") == 1

    name = f"exams-image-test-{os.getpid()}"
    podman(env, "run", "-d", "--name", name, "--network=host", "--env-file", str(env_file), IMAGE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, body = call(base, "GET", "/health/")
                if status == 200:
                    break
            except OSError:
                pass
            running = podman(env, "container", "inspect", "--format", "{{.State.Running}}", name, check=False)
            assert running.stdout.strip() == "true" and time.monotonic() < deadline, \
                podman(env, "logs", name, check=False).stderr[-3000:]
            time.sleep(0.3)
        assert body == {"overall_status": "OK", "detailed_status": {"database_status": "OK"}}
        assert podman(env, "exec", name, "id", "-u").stdout.strip() == "10001"
        assert podman(env, "healthcheck", "run", name, check=False).returncode == 0

        # One learner flow over HTTP: Studio registers a timed exam, the learner starts and submits it.
        course = "course-v1:edx+image+2026"
        usage = "block-v1:edx+image+2026+type@sequential+block@final"
        staff = token("studio", 1, staff=True)
        status, _, _ = call(base, "PATCH", f"/api/v1/exams/course_id/{course}/", [
            {"content_id": usage, "exam_name": "Final", "exam_type": "timed", "time_limit_mins": 30, "due_date": None,
             "hide_after_due": False, "is_active": True}], jwt=staff)
        assert status == 200
        exam_id = call(base, "GET", f"/api/v1/exams/course_id/{course}", jwt=staff)[2][0]["id"]
        learner = token("alice", 7)
        status, _, created = call(base, "POST", "/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": "true"},
                                  jwt=learner)
        assert status == 200, created
        status, headers, latest = call(base, "GET", "/api/v1/exams/attempt/latest", jwt=learner,
                                       headers={"X-Request-ID": "image-test-1"})
        assert status == 200 and latest["attempt_status"] == "started"
        assert headers["X-Request-ID"] == "image-test-1"
        assert call(base, "PUT", f"/api/v1/exams/attempt/{created['exam_attempt_id']}", {"action": "submit"},
                    jwt=learner)[0] == 200

        # The relay (its own process from the same image) publishes the attempt's events to Redis.
        relayed = json.loads(podman(env, *run, "relay", "--once").stdout)
        assert relayed["leader"] is True and relayed["published"] >= 1, relayed
        import redis

        client = redis.Redis.from_url(redis_server)
        entries = client.xrange("imagetest-learning-exam-attempt-lifecycle")
        client.close()
        types = {dict(fields).get(b"type", b"").decode() for _, fields in entries}
        assert "org.openedx.learning.exam.attempt.submitted.v1" in types, types
        assert json.loads(podman(env, *run, "expire").stdout) == {"submitted": 0}

        # Readiness (database and Redis) and the metrics of both gunicorn workers, summed.
        status, _, body = call(base, "GET", "/health/ready")
        assert status == 200 and body == {"status": "ready", "checks": {"database": "OK", "event_bus": "OK"}}
        for _ in range(6):
            call(base, "GET", "/health/")
        time.sleep(1.5)  # each worker hands its counts over within a second
        status, _, text = call(base, "GET", "/metrics")
        text = text.decode()
        assert status == 200
        assert re.search(r'exams_http_requests_total\{method="GET",route="health",status="200"\} ([0-9.]+)', text)
        health = float(re.search(r'exams_http_requests_total\{method="GET",route="health",status="200"\} ([0-9.]+)',
                                 text).group(1))
        assert health >= 7, text[:2000]
        assert re.search(r'exams_http_requests_total\{method="GET",route="latest_attempt",status="200"\} 1\.0', text)
        assert "exams_event_outbox_unpublished 0.0" in text and "exams_event_relay_active" in text
        logs = podman(env, "logs", name, check=False)
        for line in (logs.stdout + logs.stderr).splitlines():
            if line.startswith("{"):
                assert json.loads(line)["level"]  # JSON lines
            assert SECRET not in line and variables["EXAMS_LTI_LAUNCH_COOKIE_SECRET"] not in line
    finally:
        podman(env, "stop", "-t", "5", name, check=False)
        podman(env, "rm", "-f", name, check=False)

    size_mb = inspect["Size"] / 1e6
    print(f"\nimage {IMAGE}: {size_mb:.0f} MB, build {build_seconds:.0f} s")
