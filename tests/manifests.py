"""What the deployment says, read from k8s/ and the Dockerfile: the web pod's containers, their
environment and argv, the probes. The deploy rehearsal, the compose checks and the fault runs
all run foodgraph as these files describe, so they read them here, once."""

import re
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
K8S = ROOT / "k8s"
# The image's /opt/venv/bin, mapped onto this virtualenv.
VENV_BIN = Path(sys.executable).parent


def load_manifest(relative_path: str) -> dict[str, Any]:
    return yaml.safe_load((K8S / relative_path).read_text())


DEPLOYMENT = load_manifest("web/deployment.yaml")
POD_SPEC = DEPLOYMENT["spec"]["template"]["spec"]
(WEB_CONTAINER,) = POD_SPEC["containers"]
WEB_CONFIG = load_manifest("web/configmap.yaml")
WEB_SECRETS_EXAMPLE = load_manifest("web/secrets.example.yaml")
INGRESS_HOST = load_manifest("web/ingress.yaml")["spec"]["rules"][0]["host"]
READINESS = WEB_CONTAINER["readinessProbe"]
# The headers the kubelet's readiness probe sends.
PROBE_HEADERS = {h["name"]: h["value"] for h in READINESS["httpGet"].get("httpHeaders", [])}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each Dockerfile instruction, continuation lines joined."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.removesuffix("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            keyword, _, arguments = pending.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            pending = ""
    return instructions


def image_env() -> dict[str, str]:
    """The image's ENV, less PATH (mapped onto this virtualenv)."""
    variables = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ENV":
            variables.update(pair.split("=", 1) for pair in shlex.split(arguments))
    variables.pop("PATH")
    return variables


def image_build_command(word: str) -> tuple[dict[str, str], list[str]]:
    """The env assignments and argv of the Dockerfile's RUN step that contains `word`."""
    (run,) = [
        args for keyword, args in dockerfile_instructions() if keyword == "RUN" and word in args
    ]
    words = shlex.split(run)
    assignments = {}
    while re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    return assignments, words


def container_env(
    container: dict[str, Any],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> dict[str, str]:
    """The variables Kubernetes gives a container: envFrom in order, then env on top."""
    variables: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            variables.update(config_maps[source["configMapRef"]["name"]])
        elif "secretRef" in source:
            variables.update(secrets[source["secretRef"]["name"]])
        else:
            raise AssertionError(f"the rehearsal does not know this envFrom: {source}")
    for variable in container.get("env", []):
        if "value" not in variable:
            raise AssertionError(f"the rehearsal does not know this env: {variable}")
        variables[variable["name"]] = variable["value"]
    return variables


def container_argv(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def option_value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    index = argv.index(option) + 1
    return [*argv[:index], value, *argv[index + 1 :]]


def metrics_dir_under(tmp: Path) -> str:
    """The ConfigMap's PROMETHEUS_MULTIPROC_DIR, in the pod's /tmp emptyDir, mapped onto the
    directory that stands in for that /tmp."""
    pod_path = WEB_CONFIG["data"]["PROMETHEUS_MULTIPROC_DIR"]
    assert pod_path.startswith("/tmp/"), f"{pod_path} is not in the pod's /tmp"
    return str(tmp / pod_path.removeprefix("/tmp/"))
