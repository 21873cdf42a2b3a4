"""The Tutor plugin (deploy/tutor), rendered by the real Tutor from PyPI.

Tutor (current major, 22) and tutor-mfe go into a throw-away virtualenv under the worktree's ignored
`.tutor-venv-22/` (made once, reused while it exists; the plugin is installed editable, so it always renders this
checkout). Each test module renders a temporary Tutor root with `tutor plugins enable mfe exams` and
`tutor config save`, then reads what Tutor wrote: compose and Kubernetes files (YAML), the LMS and Studio settings
(Python), the Caddyfile, and the exams ini, which `exams -c INI check` must accept in production mode.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TUTOR_MAJOR = "22"
VENV = Path(os.environ.get("EXAMS_TUTOR_VENV", ROOT / f".tutor-venv-{TUTOR_MAJOR}"))


def tutor_venv() -> Path:
    """Create (once, under a lock: xdist workers share it) the virtualenv with Tutor, tutor-mfe and the plugin."""
    stamp = VENV / ".installed"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(str(VENV) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
            done = subprocess.run([*pip, f"tutor>={TUTOR_MAJOR}.0.0,<{int(TUTOR_MAJOR) + 1}",
                                   f"tutor-mfe>={TUTOR_MAJOR}.0.0,<{int(TUTOR_MAJOR) + 1}",
                                   "-e", str(ROOT / "deploy" / "tutor")], capture_output=True, text=True)
            if done.returncode:
                pytest.fail(f"could not install Tutor from PyPI:\n{done.stderr[-3000:]}")
            stamp.write_text("ok\n")
    return VENV / "bin" / "tutor"


def run_tutor(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "TUTOR_ROOT": str(root), "TUTOR_PLUGINS_ROOT": str(root / "plugins-root")}
    done = subprocess.run([str(tutor_venv()), *args], capture_output=True, text=True, env=env, timeout=300)
    if check and done.returncode:
        raise AssertionError(f"tutor {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tutor")
    run_tutor(root, "plugins", "enable", "mfe", "exams")
    run_tutor(root, "config", "save", "--set", "ENABLE_HTTPS=true", "--set", "LMS_HOST=lms.example.org",
              "--set", "EXAMS_WORKERS=3", "--set", "EXAMS_ENABLE_EXAMS_IDA_FOR_EVERYONE=true")
    return root


def config(root: Path) -> dict:
    return yaml.safe_load((root / "config.yml").read_text())


def services(root: Path) -> dict:
    return yaml.safe_load((root / "env" / "local" / "docker-compose.yml").read_text())["services"]


def k8s(root: Path, name: str) -> dict:
    docs = [d for d in yaml.safe_load_all((root / "env" / "k8s" / name).read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


INI = "../plugins/exams/apps/exams.ini:/etc/exams/exams.ini:ro"


def test_compose_runs_web_relay_role_consumer_expiry_postgresql_and_the_lms_consumer(site):
    values, compose = config(site), services(site)
    image = compose["exams"]["image"]
    assert image.endswith(f"openedx-exams:{values.get('EXAMS_VERSION', '22.0.0')}")
    assert compose["exams"]["command"] == ["web"]
    assert "--workers 3" in compose["exams"]["environment"]["GUNICORN_CMD_ARGS"]
    assert compose["exams-relay"]["command"] == ["relay"]
    assert compose["exams-consume-roles"]["command"] == ["consume-roles"]
    assert "exams -c /etc/exams/exams.ini expire" in " ".join(compose["exams-expiry"]["command"])
    for name in ("exams", "exams-relay", "exams-consume-roles", "exams-expiry"):
        assert compose[name]["image"] == image and INI in compose[name]["volumes"], name
        assert "exams-postgresql" in compose[name]["depends_on"], name
    database = compose["exams-postgresql"]["environment"]
    assert database["POSTGRES_PASSWORD"] == values["EXAMS_POSTGRESQL_PASSWORD"] and len(database["POSTGRES_PASSWORD"]) >= 24
    consumer = compose["lms-exams-consumer"]
    assert consumer["command"][:6] == ["./manage.py", "lms", "consume_events", "-t", "learning-exam-attempt-lifecycle",
                                       "-g"]
    assert json.loads(consumer["command"][-1]) == {"consumer_name": "lms-exams-consumer", "check_backlog": True}
    jobs = yaml.safe_load((site / "env" / "local" / "docker-compose.jobs.yml").read_text())["services"]
    assert jobs["exams-job"]["image"] == image and INI in jobs["exams-job"]["volumes"]


def test_kubernetes_has_the_deployments_services_cronjob_job_and_settings(site):
    deployments = k8s(site, "deployments.yml")
    for name, args in (("exams", ["web"]), ("exams-relay", ["relay"]), ("exams-consume-roles", ["consume-roles"])):
        container = deployments[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == args
        assert {"mountPath": "/etc/exams/exams.ini", "name": "settings", "subPath": "exams.ini"} in container["volumeMounts"]
    web = deployments[("Deployment", "exams")]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert web["livenessProbe"]["httpGet"]["path"] == "/health/"
    expiry = deployments[("CronJob", "exams-expiry")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert expiry["containers"][0]["args"] == ["expire"]
    assert ("Deployment", "lms-exams-consumer") in deployments and ("Deployment", "exams-postgresql") in deployments
    assert ("Service", "exams") in k8s(site, "services.yml") and ("Service", "exams-postgresql") in k8s(site, "services.yml")
    assert ("Job", "exams-job") in k8s(site, "jobs.yml")
    assert ("PersistentVolumeClaim", "exams-postgresql") in k8s(site, "volumes.yml")
    kustomization = yaml.safe_load((site / "env" / "kustomization.yml").read_text())
    generator = {g["name"]: g for g in kustomization["configMapGenerator"]}
    assert generator["exams-settings"]["files"] == ["plugins/exams/apps/exams.ini"]


def plugin_block(path: Path, part: str) -> str:
    text = path.read_text()
    match = re.search(rf"# exams plugin: begin \({part}\)\n(.*?)# exams plugin: end \({part}\)", text, re.S)
    assert match, f"{path}: no exams plugin block ({part})"
    return match.group(1)


def openedx_globals() -> dict:
    """The names the Open edX settings define before the plugin's patches run."""
    return {"json": json, "FEATURES": {}, "EVENT_BUS_PRODUCER_CONFIG": {
        "org.openedx.learning.course.catalog_info.changed.v1": {"course-catalog-info-changed": {"enabled": True}}}}


def test_lms_and_studio_settings_compile_and_set_the_exams_keys(site):
    settings_dir = site / "env" / "apps" / "openedx" / "settings"
    host = "https://exams.lms.example.org"
    for variant in ("lms", "cms"):
        for name in ("production.py", "development.py"):
            compile((settings_dir / variant / name).read_text(), f"{variant}/{name}", "exec")
        namespace = openedx_globals()
        exec(plugin_block(settings_dir / variant / "production.py", "common"), namespace)
        assert namespace["EXAMS_SERVICE_URL"] == f"{host}/api/v1"
        assert namespace["FEATURES"]["ENABLE_SPECIAL_EXAMS"] is True
        assert namespace["PROCTORING_BACKENDS"]["lti_external"] == {}
        assert namespace["EVENT_BUS_PRODUCER"] == "edx_event_bus_redis.create_producer"
        assert namespace["EVENT_BUS_TOPIC_PREFIX"] == "dev"
        assert namespace["EVENT_BUS_REDIS_CONNECTION_URL"] == "redis://redis:6379/0"
        producers = namespace["EVENT_BUS_PRODUCER_CONFIG"]
        assert "org.openedx.learning.course.catalog_info.changed.v1" in producers  # merged, not replaced
        for event in ("added", "removed"):
            topic = producers[f"org.openedx.learning.user.course_access_role.{event}.v1"]
            assert topic["learning-course-access-role-lifecycle"]["enabled"] is True

    lms = openedx_globals()
    exec(plugin_block(settings_dir / "lms" / "production.py", "lms"), lms)
    assert lms["TOKEN_SIGNING"]["JWT_ISSUER"] == host
    public = json.loads(lms["TOKEN_SIGNING"]["JWT_PUBLIC_SIGNING_JWK_SET"])["keys"][0]
    ini = ini_settings(site)
    private = json.loads(ini["exams.access_token.private_jwk"])
    assert (public["n"], public["e"]) == (private["n"], private["e"])
    assert lms["EXAMS_DASHBOARD_MICROFRONTEND_URL"] == "https://apps.lms.example.org/exams-dashboard"
    production = (settings_dir / "lms" / "production.py").read_text()
    assert f'MFE_CONFIG["EXAMS_BASE_URL"] = "{host}"' in production


def ini_settings(site: Path) -> dict:
    import plaster

    return dict(plaster.get_settings(str(site / "env" / "plugins" / "exams" / "apps" / "exams.ini"), "app:main"))


def test_the_rendered_exams_ini_passes_the_production_check(site):
    ini = site / "env" / "plugins" / "exams" / "apps" / "exams.ini"
    done = subprocess.run([sys.executable, "-m", "exams.cli", "-c", str(ini), "check"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith(("EXAMS_", "SQLALCHEMY_"))})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "settings OK, production" in done.stdout
    values, settings = config(site), ini_settings(site)
    assert settings["exams.jwt.secret_key"] == values["OPENEDX_SECRET_KEY"]  # JWT_COMMON_SECRET_KEY defaults to it
    assert settings["exams.lms.oauth_client_secret"] == values["EXAMS_OAUTH2_SECRET"]
    assert f":{values['EXAMS_POSTGRESQL_PASSWORD']}@exams-postgresql:5432/exams" in settings["sqlalchemy.url"]
    from jwcrypto import jwk, jwt

    key = jwk.JWK.from_json(settings["exams.access_token.private_jwk"])
    token = jwt.JWT(header={"alg": "RS512", "kid": "exams"}, claims={"x": 1})
    token.make_signed_token(key)  # a usable private key


def test_the_caddy_route_serves_the_exams_host_and_hides_metrics(site):
    caddyfile = (site / "env" / "apps" / "caddy" / "Caddyfile").read_text()
    block = caddyfile[caddyfile.index("exams.lms.example.org{$default_site_port} {"):]
    block = block[:block.index("\n}")]
    assert 'import proxy "exams:8000"' in block
    assert "@exams_metrics path /metrics /metrics/*" in block and "respond @exams_metrics 404" in block


def test_the_exams_dashboard_mfe_is_built_by_tutor_mfe(site):
    dockerfile = (site / "env" / "plugins" / "mfe" / "build" / "mfe" / "Dockerfile").read_text()
    assert "frontend-app-exams-dashboard" in dockerfile


def test_an_external_postgresql_replaces_the_plugins_own(site, tmp_path):
    root = tmp_path / "external"
    shutil.copytree(site, root, ignore=shutil.ignore_patterns("env"))
    run_tutor(root, "config", "save", "--set", "EXAMS_RUN_POSTGRESQL=false", "--set", "EXAMS_POSTGRESQL_HOST=db.internal",
              "--set", "EXAMS_POSTGRESQL_PASSWORD=external-password-0123456789")
    compose = services(root)
    assert "exams-postgresql" not in compose and "exams-postgresql" not in compose["exams"]["depends_on"]
    assert ("Deployment", "exams-postgresql") not in k8s(root, "deployments.yml")
    assert ini_settings(root)["sqlalchemy.url"].endswith(":external-password-0123456789@db.internal:5432/exams")


@pytest.mark.parametrize("setting, value, message", [
    ("EXAMS_WORKERS", "many", "EXAMS_WORKERS must be a whole number > 0"),
    ("EXAMS_HOST", "https://exams.example.org/", "EXAMS_HOST must be a host name"),
    ("EXAMS_RUN_POSTGRESQL", "perhaps", "EXAMS_RUN_POSTGRESQL must be true or false"),
    ("EXAMS_OAUTH2_SECRET", "", "EXAMS_OAUTH2_SECRET is missing or empty"),
    ("EXAMS_PROVIDER_NAME", "proctorio", "EXAMS_PROVIDER_LTI_CLIENT_ID is missing (required with EXAMS_PROVIDER_NAME)"),
])
def test_config_save_with_a_bad_setting_fails_naming_it(site, tmp_path, setting, value, message):
    root = tmp_path / "bad"
    shutil.copytree(site, root, ignore=shutil.ignore_patterns("env"))
    done = run_tutor(root, "config", "save", "--set", f"{setting}={value}", check=False)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert message in output
    values = config(site)
    for secret in ("EXAMS_OAUTH2_SECRET", "EXAMS_POSTGRESQL_PASSWORD", "EXAMS_LTI_LAUNCH_COOKIE_SECRET"):
        assert values[secret] not in output


RENDER_TASKS = """
import json, sys
from tutor import config as tutor_config, env, hooks
hooks.Actions.CORE_READY.do()
hooks.Actions.PROJECT_ROOT_READY.do(sys.argv[1])
config = tutor_config.load(sys.argv[1])
tasks = {}
for service, task in hooks.Filters.CLI_DO_INIT_TASKS.iterate():
    tasks.setdefault(service, []).append(env.render_str(config, task))
print(json.dumps(tasks))
"""


def init_tasks(root: Path) -> dict:
    tutor_venv()
    done = subprocess.run([str(VENV / "bin" / "python"), "-c", RENDER_TASKS, str(root)], capture_output=True,
                          text=True, env={**os.environ, "TUTOR_ROOT": str(root)}, check=True)
    return {service: "\n".join(t for t in tasks if "exams plugin" in t)
            for service, tasks in json.loads(done.stdout).items()}


def test_init_tasks_create_the_lms_client_and_flag_migrate_and_register_the_provider(site, tmp_path):
    root = tmp_path / "provider"
    shutil.copytree(site, root, ignore=shutil.ignore_patterns("env"))
    run_tutor(root, "config", "save", "--set", "EXAMS_PROVIDER_NAME=proctorio", "--set",
              "EXAMS_PROVIDER_VERBOSE_NAME=Proctorio", "--set", "EXAMS_PROVIDER_LTI_CLIENT_ID=abc123",
              "--set", "EXAMS_PROVIDER_LTI_LOGIN_URL=https://vendor.example/login",
              "--set", "EXAMS_PROVIDER_LTI_LAUNCH_URL=https://vendor.example/launch",
              "--set", "EXAMS_PROVIDER_LTI_JWKS_URL=https://vendor.example/jwks")
    tasks, values = init_tasks(root), config(root)
    lms, exams = tasks["lms"], tasks["exams"]
    assert "./manage.py lms manage_user exams_worker exams_worker@openedx --staff --superuser" in lms
    assert "--grant-type client-credentials" in lms and f'--client-secret "{values["EXAMS_OAUTH2_SECRET"]}"' in lms
    assert "./manage.py lms waffle_flag --create --everyone course_apps.exams_ida" in lms
    assert "exams -c /etc/exams/exams.ini check\nexams -c /etc/exams/exams.ini migrate" in exams
    assert '--name "proctorio"' in exams and '--lti-jwks-url "https://vendor.example/jwks"' in exams
    for script in (lms, exams):
        assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0
    # Without the setting, the flag is created but left to per-course overrides.
    run_tutor(root, "config", "save", "--set", "EXAMS_ENABLE_EXAMS_IDA_FOR_EVERYONE=false")
    assert "./manage.py lms waffle_flag --create course_apps.exams_ida" in init_tasks(root)["lms"]
