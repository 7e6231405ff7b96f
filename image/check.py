"""`make image-test`: the production image, built with podman and run as its Deployment runs it.

    CONTAINERS_CONF=image/containers.conf python -m image.check

1. Stand-in base images from Debian packages (image/bases.py), built once and cached, passed
   to the Dockerfile's PYTHON_IMAGE and NODE_IMAGE arguments.
2. `podman build` of the Dockerfile. The host's CA bundle is bind-mounted read-only for the
   build's RUN steps only (the machines reach the package registries through a TLS proxy that
   only it trusts); the image must come out without it, and without test code.
3. The pod of k8s/web/deployment.yaml, its containers in its order, each with its command,
   working directory, environment (the web ConfigMap, and Secret values made up here with the
   keys of secrets.example.yaml), resource limits and securityContext (read-only root,
   its numeric user, no capabilities, no privilege escalation, the default seccomp profile)
   and its /tmp emptyDir as a tmpfs: `wait-for-database` starts before the database exists
   and must wait for it, `migrate` applies the migrations, then the web container serves.
4. From inside the running web container (`podman exec`, image/inside.py): its uid and gid,
   no effective capability, no new privileges, a read-only `/`, a writable tmpfs /tmp, the
   probes, a GraphQL query on the migrated database through the Ingress host, and GraphiQL's
   static files served from the image as they are in it.
5. SIGTERM, as the kubelet sends it once preStop is done: uvicorn must exit cleanly (status 0)
   within the grace period left after preStop's sleep.

Containers are on the host's network (the database is on loopback), so uvicorn gets
127.0.0.1 and a free port instead of the manifest's 0.0.0.0:8000, as in the process rehearsal
(tests/test_deploy.py). The database (IMAGE_TEST_DATABASE on IMAGE_TEST_MYSQL_URL) is
created by the run and dropped on exit, with the containers, whatever the outcome.
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import MySQLdb
import yaml

from image.bases import ensure_bases

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
IMAGE = os.environ.get("IMAGE_TEST_TAG", "localhost/foodgraph:image-test")
MYSQL_URL = os.environ.get("IMAGE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
DATABASE = os.environ.get("IMAGE_TEST_DATABASE", "foodgraph_image_test")
# A Redis database of its own on the local server, so no other run's cache is shared.
REDIS_URL = os.environ.get("IMAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CONTAINER_PREFIX = "foodgraph-image-test-"
# Anonymous, and a page of the (empty) menu: the app reaches its migrated database.
QUERY = "{ me { username } menuItems(first: 1) { totalCount edges { node { title } } } }"
EXPECTED_DATA = {"me": None, "menuItems": {"totalCount": 0, "edges": []}}
# The securityContext fields this run knows how to apply; any other fails it, so that a new
# field in the manifest is not silently left out.
SECURITY_FIELDS = {
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "seccompProfile",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "capabilities",
}


class CheckFailed(Exception):
    """A check of the image or of the pod's run failed."""


def load_manifest(relative_path: str) -> dict[str, Any]:
    return yaml.safe_load((K8S / relative_path).read_text())


def log(message: str) -> None:
    print(f"image-test: {message}", flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
    log(f"ok  {message}")


def podman(*args: str, timeout: float | None = None) -> str:
    """Run a podman command; its standard output, or CheckFailed with its error."""
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise CheckFailed(f"podman {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def quantity(value: str | int) -> float:
    """A Kubernetes resource quantity (CPU in cores, memory in bytes)."""
    suffixes = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    text = str(value)
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_image() -> None:
    build_args = ensure_bases()
    started = time.monotonic()
    log(f"building {IMAGE}")
    subprocess.run(
        [
            "podman",
            "build",
            "--pull=never",
            "--network=host",
            f"--volume={CA_BUNDLE}:{CA_BUNDLE}:ro",
            *(f"--build-arg={name}={tag}" for name, tag in build_args.items()),
            f"--tag={IMAGE}",
            str(ROOT),
        ],
        check=True,
    )
    log(f"built in {time.monotonic() - started:.0f} s")
    # The runtime stage's files that differ from its base: the bind-mounted bundle, or the
    # empty file a mount point would leave, must not be among them.
    changed = podman("image", "diff", IMAGE, build_args["PYTHON_IMAGE"]).split()
    expect(
        CA_BUNDLE not in changed, f"the build's CA bundle mount left no {CA_BUNDLE} in the image"
    )
    (config,) = json.loads(podman("image", "inspect", IMAGE))
    expect(not config["Config"].get("Entrypoint"), "the image has no ENTRYPOINT")


def container_env(container: dict[str, Any], sources: dict[str, dict[str, str]]) -> dict[str, str]:
    """The variables Kubernetes gives a container: envFrom in order, then env on top."""
    variables: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ((kind, reference),) = source.items()
        if kind not in {"configMapRef", "secretRef"}:
            raise CheckFailed(f"the image test does not know this envFrom: {source}")
        variables.update(sources[reference["name"]])
    for variable in container.get("env", []):
        if "value" not in variable:
            raise CheckFailed(f"the image test does not know this env: {variable}")
        variables[variable["name"]] = variable["value"]
    return variables


def run_options(
    pod: dict[str, Any], container: dict[str, Any], sources: dict[str, dict[str, str]]
) -> list[str]:
    """`podman run` options for a container of the pod, as the kubelet would run it."""
    # Container-level fields override the pod's (Kubernetes' rule).
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    unknown = set(security) - SECURITY_FIELDS
    if unknown:
        raise CheckFailed(f"the image test does not apply securityContext {sorted(unknown)}")
    user, group = security["runAsUser"], security["runAsGroup"]
    if security.get("runAsNonRoot") and user == 0:
        raise CheckFailed(f"{container['name']}: runAsNonRoot with runAsUser 0")
    if security.get("seccompProfile", {}).get("type", "RuntimeDefault") != "RuntimeDefault":
        raise CheckFailed(f"unknown seccompProfile {security['seccompProfile']}")
    options = [
        "--network=host",
        f"--workdir={container['workingDir']}",
        f"--user={user}:{group}",
        # RuntimeDefault: podman's default seccomp profile, which no option turns off here.
    ]
    if security.get("readOnlyRootFilesystem"):
        # Only the pod's volumes are writable: none of podman's own tmpfs mounts (/tmp, /run).
        options += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        options.append("--security-opt=no-new-privileges")
    capabilities = security.get("capabilities", {})
    options += [f"--cap-drop={name}" for name in capabilities.get("drop", [])]
    options += [f"--cap-add={name}" for name in capabilities.get("add", [])]
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if set(volume) != {"name", "emptyDir"}:
            raise CheckFailed(f"the image test only knows emptyDir volumes: {volume}")
        size = int(quantity(volume["emptyDir"].get("sizeLimit", "64Mi")))
        options.append(f"--tmpfs={mount['mountPath']}:rw,size={size},mode=1777")
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        options.append(f"--memory={int(quantity(limits['memory']))}")
    if "cpu" in limits:
        options.append(f"--cpus={quantity(limits['cpu']):g}")
    for name, value in container_env(container, sources).items():
        options.append(f"--env={name}={value}")
    return options


class Pod:
    """The pod's containers, run with podman and removed at the end."""

    def __init__(self, sources: dict[str, dict[str, str]]) -> None:
        self.spec = load_manifest("web/deployment.yaml")["spec"]["template"]["spec"]
        self.sources = sources
        self.names: list[str] = []

    def start(self, container: dict[str, Any], argv: list[str] | None = None) -> str:
        name = CONTAINER_PREFIX + container["name"]
        if argv is None:
            argv = [*container.get("command", []), *container.get("args", [])]
        podman("rm", "--force", "--ignore", name)
        self.names.append(name)
        options = run_options(self.spec, container, self.sources)
        podman("run", "--detach", f"--name={name}", *options, IMAGE, *argv)
        return name

    def running(self, name: str) -> bool:
        return podman("inspect", "--format={{.State.Running}}", name).strip() == "true"

    def logs(self, name: str) -> str:
        result = subprocess.run(
            ["podman", "logs", name], capture_output=True, text=True, check=False
        )
        return result.stdout + result.stderr

    def finish(self, name: str, timeout: float) -> tuple[int, str]:
        """Wait for the container to exit: its exit status and its output."""
        try:
            status = int(podman("wait", name, timeout=timeout).strip())
        except subprocess.TimeoutExpired as error:
            raise CheckFailed(f"{name} still running after {timeout:.0f} s") from error
        return status, self.logs(name)

    def remove(self) -> None:
        for name in reversed(self.names):
            subprocess.run(
                ["podman", "rm", "--force", "--ignore", "--time=0", name],
                capture_output=True,
                check=False,
            )


@contextmanager
def mysql_server() -> Iterator[Any]:
    url = urlsplit(MYSQL_URL)
    connection = MySQLdb.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
    )
    try:
        yield connection
    finally:
        connection.close()


def drop_database(server: Any) -> None:
    with server.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")


def http_get_status(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def probe_request(spec: dict[str, Any]) -> dict[str, Any]:
    get = spec["httpGet"]
    headers = {header["name"]: header["value"] for header in get.get("httpHeaders", [])}
    return {"method": "GET", "path": get["path"], "headers": headers}


def wait_for_startup(pod: Pod, name: str, port: int, web: dict[str, Any]) -> None:
    """The kubelet's startup probe, from outside the container, within its deadline."""
    spec = web["startupProbe"]
    request = probe_request(spec)
    deadline = time.monotonic() + spec["periodSeconds"] * spec["failureThreshold"]
    while time.monotonic() < deadline:
        if not pod.running(name):
            raise CheckFailed(f"the web container exited during startup:\n{pod.logs(name)}")
        try:
            if http_get_status(port, request["path"], request["headers"]) == 200:
                log("ok  the startup probe succeeded")
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise CheckFailed(f"the startup probe never succeeded:\n{pod.logs(name)}")


def check_inside(name: str, port: int, web: dict[str, Any], pod_spec: dict[str, Any]) -> None:
    ingress_host = load_manifest("web/ingress.yaml")["spec"]["rules"][0]["host"]
    # What the Ingress sends on: its host name, and the scheme of the TLS it terminates.
    through_ingress = {"Host": ingress_host, "X-Forwarded-Proto": "https"}
    probes = ("startupProbe", "readinessProbe", "livenessProbe")
    graphql = {
        "method": "POST",
        "path": "/graphql",
        "headers": {**through_ingress, "Content-Type": "application/json"},
        "body": json.dumps({"query": QUERY}),
    }
    plan = {
        "port": port,
        "requests": [*(probe_request(web[probe]) for probe in probes), graphql],
        "static_headers": through_ingress,
    }
    script = (Path(__file__).parent / "inside.py").read_text()
    result = subprocess.run(
        ["podman", "exec", "--interactive", name, "python", "-", json.dumps(plan)],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise CheckFailed(f"image/inside.py failed in the container:\n{result.stderr}")
    report = json.loads(result.stdout)
    status = report["status"]
    security = {**pod_spec["securityContext"], **web["securityContext"]}
    user, group = security["runAsUser"], security["runAsGroup"]

    expect(report["euid"] == user != 0, f"runs as uid {user}, not root (euid {report['euid']})")
    expect(status["Uid"].split() == [str(user)] * 4, f"real, saved and fs uid {user} too")
    expect(report["egid"] == group, f"runs as gid {group}")
    for field in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        expect(int(status[field], 16) == 0, f"{field} = {status[field]} (no capability)")
    expect(status["NoNewPrivs"] == "1", "no new privileges (NoNewPrivs = 1)")
    expect(status["Seccomp"] == "2", "a seccomp filter is applied (Seccomp = 2)")
    root, tmp = report["mounts"]["/"], report["mounts"].get("/tmp")
    expect(
        "ro" in root["options"], f"/ is mounted read-only ({root['type']}, {root['options'][0]})"
    )
    expect(
        report["root_write_error"] == "EROFS", f"writing in / fails: {report['root_write_error']}"
    )
    expect(tmp is not None and tmp["type"] == "tmpfs", f"/tmp is a tmpfs ({tmp})")
    expect(report["tmp_write_error"] is None, "/tmp is writable")
    expect(report["test_code"] == [], f"no test code in the image {report['test_code']}")

    *probe_responses, graphql_response = report["responses"]
    for probe, response in zip(probes, probe_responses, strict=True):
        path = web[probe]["httpGet"]["path"]
        expect(
            (response["status"], response["body"]) == (200, "ok"),
            f"{probe} {path}: {response['status']} {response['body']!r}",
        )
    expect(
        graphql_response["status"] == 200
        and "errors" not in json.loads(graphql_response["body"])
        and json.loads(graphql_response["body"])["data"] == EXPECTED_DATA,
        f"GraphQL through Host {ingress_host}: {graphql_response['body']}",
    )
    static = report["graphiql_static"]
    expect(
        {file["name"] for file in static}
        >= {"graphiql/graphiql.min.js", "graphiql/graphiql.min.css"},
        f"GraphiQL's files are in the image's static files ({len(static)})",
    )
    for file in static:
        response = file["response"]
        expect(
            response["status"] == 200
            and response["sha256"] == file["image_sha256"]
            and "immutable" in response["headers"].get("cache-control", ""),
            f"/static/{file['hashed']}: {response['status']}, the image's file, cached for good",
        )


def stop(pod: Pod, name: str, web: dict[str, Any], pod_spec: dict[str, Any]) -> None:
    """The kubelet's termination: preStop (a sleep: nothing to run), then SIGTERM."""
    budget = (
        pod_spec["terminationGracePeriodSeconds"] - web["lifecycle"]["preStop"]["sleep"]["seconds"]
    )
    podman("kill", "--signal=SIGTERM", name)
    stopping_since = time.monotonic()
    status, output = pod.finish(name, timeout=budget)
    took = time.monotonic() - stopping_since
    _, _, shutdown = output.partition("Received SIGTERM")
    expect(
        status == 0 and "Finished server process" in shutdown and "Traceback" not in shutdown,
        f"SIGTERM: exit status {status} after {took:.1f} s, within {budget} s, cleanly",
    )


def run_pod(server: Any) -> None:
    example = load_manifest("web/secrets.example.yaml")
    secret_values = {
        "DJANGO_SECRET_KEY": f"image-test-{secrets.token_hex(32)}",
        "DATABASE_URL": f"{MYSQL_URL.rstrip('/')}/{DATABASE}",
        "REDIS_URL": REDIS_URL,
    }
    if set(example["stringData"]) != set(secret_values):
        raise CheckFailed("secrets.example.yaml and the image test disagree on the Secret's keys")
    config = load_manifest("web/configmap.yaml")
    sources = {
        config["metadata"]["name"]: config["data"],
        example["metadata"]["name"]: secret_values,
    }
    pod = Pod(sources)
    try:
        wait_step, migrate_step = pod.spec["initContainers"]
        if (wait_step["name"], migrate_step["name"]) != ("wait-for-database", "migrate"):
            raise CheckFailed("the image test expects init containers wait-for-database, migrate")

        # The database does not exist yet (a MySQL still initialising): the step must wait.
        waiting = pod.start(wait_step)
        deadline = time.monotonic() + 60
        while "database not ready" not in pod.logs(waiting) and time.monotonic() < deadline:
            time.sleep(0.5)
        expect(
            pod.running(waiting) and "database not ready" in pod.logs(waiting),
            "wait-for-database retries while the database is missing",
        )
        with server.cursor() as cursor:
            cursor.execute(
                f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        status, output = pod.finish(waiting, timeout=60)
        expect(
            status == 0 and "database is ready" in output,
            f"wait-for-database: exit status {status} once the database exists",
        )

        migrating = pod.start(migrate_step)
        status, output = pod.finish(migrating, timeout=300)
        expect(
            status == 0 and "Applying accounts.0001_initial... OK" in output,
            f"migrate: exit status {status}, migrations applied",
        )

        (web,) = pod.spec["containers"]
        manifest_argv = [*web["command"], *web.get("args", [])]
        port = free_port()
        argv = list(manifest_argv)
        argv[argv.index("--host") + 1] = "127.0.0.1"
        argv[argv.index("--port") + 1] = str(port)
        serving = pod.start(web, argv)
        try:
            wait_for_startup(pod, serving, port, web)
            check_inside(serving, port, web, pod.spec)
            stop(pod, serving, web, pod.spec)
        except CheckFailed:
            log(f"the web container's output:\n{pod.logs(serving)}")
            raise
    finally:
        pod.remove()


def raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"image-test: stopped by signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            sys.exit(f"image-test: {tool} is missing (`make image-tools` installs it)")
    if "CONTAINERS_CONF" not in os.environ:
        os.environ["CONTAINERS_CONF"] = str(Path(__file__).parent / "containers.conf")
    started = time.monotonic()
    try:
        build_image()
        with mysql_server() as server:
            drop_database(server)
            try:
                run_pod(server)
            finally:
                drop_database(server)
    except (CheckFailed, subprocess.CalledProcessError, subprocess.TimeoutExpired) as failure:
        sys.exit(f"image-test FAILED: {failure}")
    log(f"passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
