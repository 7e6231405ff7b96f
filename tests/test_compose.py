"""docker-compose.yml stays in step with production (k8s/): the laptop stack runs what the
cluster runs, with the same settings, so "works in compose" means something.

No Docker engine runs on test machines: `make compose-check` validates the file against the
Compose Specification, and these tests compare it with the manifests and the Dockerfile.
"""

import re
from typing import Any

import yaml

from tests.manifests import (
    POD_SPEC,
    ROOT,
    WEB_CONFIG,
    WEB_SECRETS_EXAMPLE,
    container_argv,
    load_manifest,
)

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
MYSQL_STATEFULSET = load_manifest("mysql/statefulset.yaml")
MYSQL_CONFIG = load_manifest("mysql/configmap.yaml")
# Where the laptop must differ from the cluster: its own host names, and GraphiQL (with the
# introspection its docs explorer needs) on.
LAPTOP_SETTINGS = {"DJANGO_ALLOWED_HOSTS", "FOODGRAPH_GRAPHIQL", "FOODGRAPH_INTROSPECTION"} | {
    name
    for name in WEB_CONFIG["data"]
    if name.startswith("DJANGO_SECURE_")  # no TLS there
}


def interpolated(value: str) -> str:
    """`value` as Compose reads it with none of its variables set: ${NAME:-default} -> default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def environment(service: str) -> dict[str, str]:
    return {
        name: interpolated(str(value))
        for name, value in COMPOSE["services"][service]["environment"].items()
    }


def test_the_app_gets_the_configmaps_and_the_secrets_variables_and_redis() -> None:
    app_environment = environment("web")
    expected_names = set(WEB_CONFIG["data"]) | set(WEB_SECRETS_EXAMPLE["stringData"])
    assert set(app_environment) == expected_names
    for name, value in WEB_CONFIG["data"].items():
        if name not in LAPTOP_SETTINGS:
            assert app_environment[name] == value, name
    assert "redis" in COMPOSE["services"]  # the host of REDIS_URL, as in the cluster
    assert environment("migrate") == app_environment


def test_the_app_reaches_the_database_the_mysql_service_creates() -> None:
    database = environment("mysql")
    url = environment("web")["DATABASE_URL"]
    assert url == (
        f"mysql://{database['MARIADB_USER']}:{database['MARIADB_PASSWORD']}"
        f"@mysql:3306/{database['MARIADB_DATABASE']}"
    )


def test_the_database_server_is_the_clusters_with_its_settings() -> None:
    (server,) = MYSQL_STATEFULSET["spec"]["template"]["spec"]["containers"]
    mysql = COMPOSE["services"]["mysql"]
    assert mysql["image"] == server["image"]
    plain_env = {item["name"]: item["value"] for item in server["env"] if "value" in item}
    assert plain_env.items() <= environment("mysql").items()
    (config_mount,) = [mount for mount in server["volumeMounts"] if mount["name"] == "config"]
    (config,) = mysql["configs"]
    assert config["target"] == config_mount["mountPath"]
    assert (
        COMPOSE["configs"][config["source"]]["content"]
        == (MYSQL_CONFIG["data"][config_mount["subPath"]])
    )
    (data_mount,) = [mount for mount in server["volumeMounts"] if mount["name"] == "data"]
    (volume,) = mysql["volumes"]
    volume_name, mount_path = volume.split(":")
    assert mount_path == data_mount["mountPath"]
    assert volume_name in COMPOSE["volumes"], "the database lives in a named volume"


def test_migrations_run_as_in_the_pod_before_the_app_starts() -> None:
    _, migrate_step = POD_SPEC["initContainers"]
    services: dict[str, Any] = COMPOSE["services"]
    assert services["migrate"]["command"] == container_argv(migrate_step)
    assert services["web"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert services["migrate"]["depends_on"]["mysql"] == {"condition": "service_healthy"}
    # The app runs the image's CMD, which test_deploy checks against the Deployment.
    assert "command" not in services["web"]
    for name in ("web", "migrate"):
        assert services[name]["build"] == "."
