"""The deployment, rehearsed: what a web pod runs (k8s/web/deployment.yaml), run on this machine.

Test machines have neither Docker nor a cluster, so the rehearsal runs the pod's commands as
local processes, in the pod's order, with the pod's environment (its ConfigMap, and Secret
values made up here with the keys of secrets.example.yaml), against the local MariaDB in a
database of its own. Only what exists in the image alone is mapped onto the checkout:

- the working directory /app is the checkout, and /opt/venv/bin on PATH is this virtualenv's;
- the image's collectstatic step (Dockerfile) runs into a temporary DJANGO_STATIC_ROOT;
- the /tmp emptyDir is a temporary TMPDIR;
- uvicorn's `--host 0.0.0.0 --port 8000` become 127.0.0.1 and a free port, and the probes'
  named port follows.
"""

import json
import os
import secrets as secrets_module
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from django.conf import settings

from tests.manifests import (
    INGRESS_HOST,
    K8S,
    POD_SPEC,
    ROOT,
    VENV_BIN,
    WEB_CONFIG,
    WEB_CONTAINER,
    WEB_SECRETS_EXAMPLE,
    container_argv,
    container_env,
    dockerfile_instructions,
    image_build_command,
    image_env,
    load_manifest,
    metrics_dir_under,
    option_value,
    with_option,
)
from tests.support import GraphQLClient, ServerProcess, database_url, free_port


def http_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> httpx.Response:
    """One request to 127.0.0.1:port, on a connection of its own, with exactly the given Host
    header if it names one."""
    with GraphQLClient(port) as client:
        return client.request(method, path, headers=headers, content=body)


def probe(port: int, spec: dict[str, Any]) -> tuple[int, bytes]:
    """What the kubelet's httpGet probe sees: its path, its headers."""
    get = spec["httpGet"]
    headers = {header["name"]: header["value"] for header in get.get("httpHeaders", [])}
    response = http_request(port, "GET", get["path"], headers)
    return response.status_code, response.content


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    """Started processes, killed if a failed assertion left them running."""
    started: list[ServerProcess] = []
    yield started
    for process in started:
        process.kill()


@pytest.fixture
def mysql_server() -> Iterator[Any]:
    """A root-level connection to the test MySQL, for creating and dropping a database."""
    import MySQLdb

    db = settings.DATABASES["default"]
    connection = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 3306),
        user=db["USER"],
        password=db["PASSWORD"],
    )
    yield connection
    connection.close()


@pytest.fixture
def rehearsal_database(mysql_server: Any) -> Iterator[str]:
    """The name of a database that does not exist yet (the pod's wait step sees it appear)."""
    name = f"foodgraph_rehearsal_{uuid.uuid4().hex[:12]}"
    yield name
    with mysql_server.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.mark.mysql_only
def test_a_web_pod_starts_serves_and_stops_as_its_manifest_says(
    tmp_path: Path,
    mysql_server: Any,
    rehearsal_database: str,
    redis_url: str,
    processes: list[ServerProcess],
) -> None:
    secrets = {
        WEB_SECRETS_EXAMPLE["metadata"]["name"]: {
            "DJANGO_SECRET_KEY": f"rehearsal-{uuid.uuid4().hex}{uuid.uuid4().hex}",
            "DATABASE_URL": database_url(rehearsal_database),
            # The cluster's `redis` Service is the local Redis here.
            "REDIS_URL": redis_url,
        }
    }
    assert secrets.keys() == {WEB_SECRETS_EXAMPLE["metadata"]["name"]}
    assert set(WEB_SECRETS_EXAMPLE["stringData"]) == set(*secrets.values()), (
        "secrets.example.yaml and the rehearsal disagree on the Secret's keys"
    )
    config_maps = {WEB_CONFIG["metadata"]["name"]: WEB_CONFIG["data"]}
    (tmp_path / "tmp").mkdir()
    static_root = tmp_path / "staticfiles"
    checkout_for_image = {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "TMPDIR": str(tmp_path / "tmp"),
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir_under(tmp_path / "tmp"),
        "DJANGO_STATIC_ROOT": str(static_root),
    }

    def run_env(container: dict[str, Any]) -> dict[str, str]:
        assert container["workingDir"] == "/app"
        return {
            **image_env(),
            **container_env(container, config_maps, secrets),
            **checkout_for_image,
        }

    def start(
        container: dict[str, Any],
        argv: list[str],
        log: Path,
        ready: Callable[[], bool] | None = None,
        startup_seconds: float = 60,
    ) -> ServerProcess:
        """The container's command, exactly its argv, in its environment; with `ready`, once
        that says so."""
        process = ServerProcess(
            argv, env=run_env(container), output=log, ready=ready, startup_seconds=startup_seconds
        )
        processes.append(process)
        process.start()
        return process

    def finish(process: ServerProcess, log: Path, timeout: float) -> str:
        returncode = process.wait(timeout=timeout)
        output = log.read_text()
        assert returncode == 0, output
        return output

    # Built into the image: static files, hashed and compressed.
    build_env, collectstatic = image_build_command("collectstatic")
    subprocess.run(
        collectstatic,
        cwd=ROOT,
        env={**image_env(), **build_env, **checkout_for_image},
        check=True,
    )

    wait_step, migrate_step = POD_SPEC["initContainers"]
    assert (wait_step["name"], migrate_step["name"]) == ("wait-for-database", "migrate")

    # The database does not exist yet (MySQL still initialising): the wait step keeps trying.
    waiting = start(wait_step, container_argv(wait_step), tmp_path / "wait.log")
    time.sleep(1.5)
    assert waiting.running(), (tmp_path / "wait.log").read_text()
    with mysql_server.cursor() as cursor:
        cursor.execute(
            f"CREATE DATABASE `{rehearsal_database}` CHARACTER SET utf8mb4 "
            "COLLATE utf8mb4_unicode_ci"
        )
    wait_output = finish(waiting, tmp_path / "wait.log", timeout=30)
    assert "database not ready" in wait_output
    assert "database is ready" in wait_output

    # Two pods starting at once: both migrate steps succeed, one applies, the other finds none.
    migrations = [
        start(migrate_step, container_argv(migrate_step), tmp_path / f"migrate-{pod}.log")
        for pod in (1, 2)
    ]
    outputs = [
        finish(process, tmp_path / f"migrate-{pod}.log", timeout=120)
        for pod, process in zip((1, 2), migrations, strict=True)
    ]
    assert sorted("No migrations to apply." in output for output in outputs) == [False, True]
    assert sum("Applying accounts.0001_initial... OK" in output for output in outputs) == 1

    # The app container, on a free local port.
    manifest_argv = container_argv(WEB_CONTAINER)
    (named_port,) = WEB_CONTAINER["ports"]
    assert int(option_value(manifest_argv, "--port")) == named_port["containerPort"]
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert WEB_CONTAINER[probe_name]["httpGet"]["port"] == named_port["name"]
    port = free_port()
    argv = with_option(with_option(manifest_argv, "--host", "127.0.0.1"), "--port", str(port))
    server_log = tmp_path / "web.log"
    startup = WEB_CONTAINER["startupProbe"]
    server = start(
        WEB_CONTAINER,
        argv,
        server_log,
        ready=lambda: probe(port, startup)[0] == 200,
        startup_seconds=startup["periodSeconds"] * startup["failureThreshold"],
    )

    assert probe(port, WEB_CONTAINER["readinessProbe"]) == (200, b"ok")
    assert probe(port, WEB_CONTAINER["livenessProbe"]) == (200, b"ok")
    # Without the probes' Host header the kubelet sends the address it connects to.
    readyz = WEB_CONTAINER["readinessProbe"]["httpGet"]["path"]
    assert http_request(port, "GET", readyz, {"Host": f"127.0.0.1:{port}"}).status_code == 400

    # Through the Ingress: its host name, the scheme of its TLS, a GraphQL query on the
    # migrated database, answered with HSTS.
    through_ingress = {"Host": INGRESS_HOST, "X-Forwarded-Proto": "https"}
    with GraphQLClient(port, headers=through_ingress) as client:
        response = client.post("{ me { username } }")
    assert (response.status_code, response.json()["data"]) == (200, {"me": None})
    assert (
        response.headers["Strict-Transport-Security"]
        == "max-age=31536000; includeSubDomains; preload"
    )

    # A hashed static file, compressed, cached for ten years.
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed_css = manifest["paths"]["admin/css/base.css"]
    static_path = f"/static/{hashed_css}"
    response = http_request(
        port, "GET", static_path, {**through_ingress, "Accept-Encoding": "gzip"}
    )
    status, headers = response.status_code, response.headers
    assert status == 200
    assert "max-age=315360000" in headers["Cache-Control"]
    assert "immutable" in headers["Cache-Control"]
    assert headers["Content-Encoding"] == "gzip"
    assert "Strict-Transport-Security" in headers
    # Plain HTTP to the site is sent to HTTPS.
    response = http_request(port, "GET", static_path, {"Host": INGRESS_HOST})
    assert (response.status_code, response.headers["Location"]) == (
        301,
        f"https://{INGRESS_HOST}{static_path}",
    )

    # Termination: the kubelet runs preStop, then sends SIGTERM; the grace period covers both.
    pre_stop_seconds = WEB_CONTAINER["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace_seconds = POD_SPEC["terminationGracePeriodSeconds"]
    server.send_signal(signal.SIGTERM)
    stopping_since = time.monotonic()
    server_output = finish(server, server_log, timeout=grace_seconds - pre_stop_seconds)
    assert time.monotonic() - stopping_since < grace_seconds - pre_stop_seconds
    _, _, shutdown_log = server_output.partition("Received SIGTERM")
    assert "Finished server process" in shutdown_log
    assert "Traceback" not in shutdown_log
    # Static files are served the ASGI way: Django did not fall back to consuming a sync file
    # iterator (and warn), as it did for WhiteNoise.
    assert "synchronous iterators" not in server_output


def test_the_web_pods_share_the_redis_of_the_manifests() -> None:
    """REDIS_URL names the redis Service, its port and the password the server requires."""
    service = load_manifest("redis/service.yaml")
    (redis_container,) = load_manifest("redis/deployment.yaml")["spec"]["template"]["spec"][
        "containers"
    ]
    redis_secrets = load_manifest("redis/secrets.example.yaml")
    (service_port,) = service["spec"]["ports"]
    (container_port,) = redis_container["ports"]
    url = urlsplit(WEB_SECRETS_EXAMPLE["stringData"]["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port, url.password) == (
        "redis",
        service["metadata"]["name"],
        service_port["port"],
        redis_secrets["stringData"]["REDIS_PASSWORD"],
    )
    assert service_port["targetPort"] == container_port["name"]
    # The server requires the password of the Secret that the URL's password comes from.
    args = redis_container["args"]
    password_variable = args[args.index("--requirepass") + 1].removeprefix("$(").removesuffix(")")
    password_source = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]
        for variable in redis_container["env"]
    }[password_variable]
    assert password_source == {
        "name": redis_secrets["metadata"]["name"],
        "key": "REDIS_PASSWORD",
    }


def test_the_deployment_runs_the_image_command() -> None:
    (cmd,) = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    assert json.loads(cmd) == container_argv(WEB_CONTAINER)


def test_shutdown_fits_in_the_grace_period() -> None:
    graceful_shutdown = int(option_value(WEB_CONTAINER["command"], "--timeout-graceful-shutdown"))
    pre_stop = WEB_CONTAINER["lifecycle"]["preStop"]["sleep"]["seconds"]
    # After SIGTERM, readiness is refused this long before the WebSockets close
    # (http_runtime/shutdown.py): a readiness probe's period, at least.
    drain = int(WEB_CONFIG["data"]["FOODGRAPH_SHUTDOWN_DRAIN_SECONDS"])
    assert drain >= WEB_CONTAINER["readinessProbe"]["periodSeconds"]
    # A margin for the process to exit once its connections are closed.
    assert pre_stop + drain + graceful_shutdown + 3 <= POD_SPEC["terminationGracePeriodSeconds"]


def test_kustomization_lists_every_manifest_but_the_secret_examples() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {
        str(path.relative_to(K8S))
        for path in K8S.rglob("*.yaml")
        if path.name not in {"kustomization.yaml", "secrets.example.yaml"}
    }
    assert sorted(kustomization["resources"]) == sorted(manifests)


def test_database_wait_gives_up_on_an_unreachable_database(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SECRET_KEY": "test-only-secret-key-for-this-process",
        "DATABASE_URL": f"sqlite:///{tmp_path}/no-such-dir/db.sqlite3",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "wait_for_database", "--timeout", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "database still unavailable after 1s" in result.stderr


def test_the_production_configuration_passes_the_deploy_checks(tmp_path: Path) -> None:
    """`manage.py check --deploy` with the pod's environment: HSTS, secure cookies and the
    HTTPS redirect are on, and nothing else is left to warn about."""
    config_maps = {WEB_CONFIG["metadata"]["name"]: WEB_CONFIG["data"]}
    # A key as long and as random as the README makes; the database is never reached.
    secrets = {
        WEB_SECRETS_EXAMPLE["metadata"]["name"]: {
            **WEB_SECRETS_EXAMPLE["stringData"],
            "DJANGO_SECRET_KEY": secrets_module.token_urlsafe(48),
        }
    }
    env = {
        **os.environ,
        **image_env(),
        **container_env(WEB_CONTAINER, config_maps, secrets),
        "DJANGO_STATIC_ROOT": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir_under(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
