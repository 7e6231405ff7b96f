"""What the app container sees from inside, printed as JSON for `image/check.py` to judge.

Run in the container with the image's own Python and its standard library only, the script
coming on standard input (the image holds no test code, and its root filesystem is read-only):

    podman exec -i CONTAINER python - REQUESTS_JSON < image/inside.py

REQUESTS_JSON is {"port": N, "requests": [{"method", "path", "headers", "body"}, ...],
"static_headers": {...}}: each request is sent to 127.0.0.1:N. It reports the process's
identity, capabilities and privileges (/proc/self/status), whether `/` and /tmp are writable
and how they are mounted, any test code under /app (by its name, or importing pytest), and
GraphiQL's static files: each one's hashed name from the collectstatic manifest, fetched from
the server (with static_headers) and compared with the file in the image.
"""

import errno
import hashlib
import http.client
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

APP = Path("/app")
STATIC_ROOT = APP / "staticfiles"
STATUS_FIELDS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
STATUS_FIELDS += ("NoNewPrivs", "Seccomp")
TEST_FILE_NAMES = ("conftest.py", "tests.py", "support.py")
TEST_FILE_PREFIXES = ("test_", "stress_")


def process_status() -> dict[str, str]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in STATUS_FIELDS:
            fields[name] = value.strip()
    return fields


def mounts() -> dict[str, dict[str, Any]]:
    """The last mount of each mount point (the one in effect): its type and options."""
    table = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount_point, fs_type, options, *_ = line.split()
        table[mount_point] = {"type": fs_type, "options": options.split(",")}
    return {point: table[point] for point in ("/", "/tmp") if point in table}


def write_error(directory: str) -> str | None:
    """The errno name with which creating a file in `directory` fails; None if it succeeds."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory):
            return None
    except OSError as error:
        return errno.errorcode.get(error.errno or 0, str(error))


def is_test_code(path: Path) -> bool:
    if path.is_dir():
        return path.name == "tests"
    if path.suffix != ".py":
        return False
    if path.name in TEST_FILE_NAMES or path.name.startswith(TEST_FILE_PREFIXES):
        return True
    # Whatever its name: the image has no pytest, so a module that imports it is a test's.
    return any(
        line.startswith(("import pytest", "from pytest"))
        for line in (raw.strip() for raw in path.read_text(errors="replace").splitlines())
    )


def test_code() -> list[str]:
    return sorted(str(path) for path in APP.rglob("*") if is_test_code(path))


def request(
    port: int, method: str, path: str, headers: dict[str, str], body: str | None
) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        return {
            "status": response.status,
            "headers": {name.lower(): value for name, value in response.getheaders()},
            "body": content.decode("utf-8", "replace")[:2000],
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    finally:
        connection.close()


def graphiql_static_files(port: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    manifest = json.loads((STATIC_ROOT / "staticfiles.json").read_text())
    files = []
    for name, hashed in sorted(manifest["paths"].items()):
        if not name.startswith("graphiql/"):
            continue
        response = request(port, "GET", f"/static/{hashed}", headers, None)
        response.pop("body")
        files.append(
            {
                "name": name,
                "hashed": hashed,
                "image_sha256": hashlib.sha256((STATIC_ROOT / hashed).read_bytes()).hexdigest(),
                "response": response,
            }
        )
    return files


def main() -> None:
    plan = json.loads(sys.argv[1])
    port = plan["port"]
    report = {
        "euid": os.geteuid(),
        "egid": os.getegid(),
        "status": process_status(),
        "mounts": mounts(),
        "root_write_error": write_error("/"),
        "tmp_write_error": write_error("/tmp"),
        "test_code": test_code(),
        "responses": [
            request(port, item["method"], item["path"], item["headers"], item.get("body"))
            for item in plan["requests"]
        ],
        "graphiql_static": graphiql_static_files(port, plan["static_headers"]),
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
