"""What the tests share: the one GraphQL client, the one way to start a server process, users'
and rows' helpers, and documents clients send.

Fixtures are in conftest.py (pytest finds them); this module is imported, conftest never is.
"""

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import quote

import httpx
import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from graphql import (
    OperationDefinitionNode,
    OperationType,
    get_introspection_query,
    parse,
    print_ast,
    separate_operations,
)
from strawberry import relay

from accounts.models import User
from accounts.tokens import create_access_token
from menu.models import Category, MenuItem
from orders.models import CartItem, Order, OrderItem
from tests.manifests import (
    PROBE_HEADERS,
    READINESS,
    ROOT,
    VENV_BIN,
    WEB_CONFIG,
    WEB_CONTAINER,
    container_argv,
    image_env,
    load_manifest,
    metrics_dir_under,
    with_option,
)

PASSWORD = "Str0ng-enough-passw0rd"
# What production's `uvicorn --http` names (k8s/web/deployment.yaml).
HTTP_PROTOCOL = "http_runtime.uvicorn_protocol:HeaderDeadlineProtocol"

# Documents a client may legitimately send: the contract's deepest reads, the README's
# examples, and the introspection queries GraphiQL and code generators send.
LEGITIMATE = {
    "introspection (GraphiQL, all options)": get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    ),
    "README menuItems": """{
      menuItems(first: 10, filters: {featured: true, maxPrice: "15"}, order: {price: ASC}) {
        totalCount
        edges { cursor node { id title price category { title } } }
        pageInfo { hasNextPage endCursor }
      }
    }""",
    "orders with everything": """{
      orders(first: 100, order: {createdAt: DESC}) {
        totalCount
        edges { cursor node {
          id status total createdAt deliveredAt
          customer { id username email firstName lastName roles }
          deliveryCrew { id username roles }
          items { id title quantity unitPrice lineTotal
                  menuItem { id title price category { id slug title } } }
        } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }""",
    "cart": "{ cart { total itemCount items { id quantity unitPrice lineTotal "
    "menuItem { id title price featured available category { id title } } } } }",
    "categories with items": "{ categories { id slug title menuItems { id title price "
    "category { id title } } } }",
}


OPERATIONS_DIR = ROOT / "clients" / "operations"


def shipped_operations() -> dict[str, str]:
    """Operation name -> the document a client sends for it (the operation and the fragments
    it uses), of every operation in clients/operations/."""
    document = parse(
        "\n".join(path.read_text() for path in sorted(OPERATIONS_DIR.glob("*.graphql")))
    )
    names = [
        definition.name.value
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode) and definition.name
    ]
    assert len(names) == len(set(names)), "operation names must be unique"
    return {name: print_ast(part) for name, part in separate_operations(document).items()}


def is_subscription(document: str) -> bool:
    """Whether the operation of a client's document (`shipped_operations`) is a subscription."""
    return any(
        isinstance(definition, OperationDefinitionNode)
        and definition.operation is OperationType.SUBSCRIPTION
        for definition in parse(document).definitions
    )


# The GraphQL client.


class GraphQLClient:
    """GraphQL over HTTP: to foodgraph's ASGI application in this process (no `port`), or to
    a server process listening on 127.0.0.1:`port`.

    `address` is the client address the in-process application sees (limits count per
    address); `headers` go with every request (a Host, a token); cookies are kept from one
    request to the next, as a browser keeps them. Close it after use (it is a context
    manager): to a server it keeps its connections alive.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        address: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> None:
        self.headers = dict(headers or {})
        self.cookies = httpx.Cookies()
        self.server: httpx.Client | None = None
        self.transport: httpx.ASGITransport | None = None
        if port is not None:
            assert address is None, "a server process sees the address the client connects from"
            self.server = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout)
        else:
            from foodgraph.asgi import application

            client = {} if address is None else {"client": (address, 40000)}
            self.transport = httpx.ASGITransport(app=application, **client)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any HTTP request; the connection's errors are httpx's, raised."""
        kwargs["headers"] = {**self.headers, **(kwargs.get("headers") or {})}
        if self.server is not None:
            return self.server.request(method, path, **kwargs)

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url="http://testserver", cookies=self.cookies
            ) as client:
                response = await client.request(method, path, **kwargs)
                self.cookies = client.cookies
                return response

        return async_to_sync(send)()

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        user: User | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A GraphQL request, as `user` or the user of `token` if either is given."""
        headers = dict(headers or {})
        if user is not None:
            token = create_access_token(user)[0]
        if token is not None:
            headers["Authorization"] = f"JWT {token}"
        body = {"query": query, "variables": variables or {}}
        return self.request(
            "POST",
            "/graphql",
            content=json.dumps(body),
            headers={"Content-Type": "application/json", **headers},
        )

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The response body of a 200 answer, errors included."""
        response = self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """The `data` of an answer that must have no errors."""
        body = self.execute(query, variables, **kwargs)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def websocket(path: str = "/graphql") -> ApplicationCommunicator:
    """A WebSocket to foodgraph's ASGI application in this process, as graphql-ws opens one
    (asgiref's communicator: `send_input` what the client sends, `receive_output` what the
    server does)."""
    from foodgraph.asgi import application

    scope = {
        "type": "websocket",
        "path": path,
        "headers": [(b"host", b"testserver")],
        "subprotocols": ["graphql-transport-ws"],
        "client": ("127.0.0.1", 50000),
    }
    return ApplicationCommunicator(application, scope)


def get(port: int, path: str) -> tuple[int, str]:
    """(status, text) of GET `path` on the server on `port`: one request of a GraphQLClient."""
    with GraphQLClient(port) as client:
        response = client.request("GET", path)
    return response.status_code, response.text


def post_graphql(
    port: int,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, httpx.Headers, Any]:
    """(status, headers, body) of a GraphQL request to the server on `port`: one request of a
    GraphQLClient. The headers are case-insensitive."""
    with GraphQLClient(port) as client:
        response = client.post(query, variables, headers=headers)
    return response.status_code, response.headers, response.json()


def gid(type_name: str, pk: Any) -> str:
    """The opaque global ID the API gives the object of `type_name` with this key."""
    return relay.to_base64(type_name, pk)


def global_id(instance: Category | MenuItem) -> str:
    """The opaque ID the API gives `instance`."""
    return gid(type(instance).__name__, instance.pk)


def message_kinds(result: dict) -> list[tuple[str, str | None]]:
    """(kind, field) of each message of a mutation's OperationInfo answer."""
    assert result["__typename"] == "OperationInfo", result
    return [(m["kind"], m["field"]) for m in result["messages"]]


def validation_fields(result: dict) -> dict[str, str]:
    """field -> message of an OperationInfo answer made of validation messages only."""
    assert result["__typename"] == "OperationInfo", result
    assert {m["kind"] for m in result["messages"]} == {"VALIDATION"}
    return {m["field"]: m["message"] for m in result["messages"]}


# Rows made around the API.


def menu_state() -> list[tuple[Any, ...]]:
    """Every category and item, all fields: equal before and after means nothing changed."""
    return [
        *Category.objects.order_by("pk").values_list(),
        *MenuItem.objects.order_by("pk").values_list(),
    ]


def fill_cart(user: User, *lines: tuple[MenuItem, int]) -> None:
    for item, quantity in lines:
        CartItem.objects.create(user=user, menu_item=item, quantity=quantity)


def place_order(customer: User, *lines: tuple[MenuItem, int], **fields: object) -> Order:
    order = Order.objects.create(
        customer=customer, total=sum(item.price * qty for item, qty in lines), **fields
    )
    OrderItem.objects.bulk_create(
        OrderItem(order=order, menu_item=item, title=item.title, unit_price=item.price, quantity=q)
        for item, q in lines
    )
    return order


# Server processes.


class ServerProcess:
    """A command run from the checkout as a process group of its own: the one way the tests
    start a server (foodgraph's uvicorn, a MariaDB, a Redis) or a pod's one-off step.

    start() returns once `ready()` is true (connection errors count as not yet); without
    `ready` it returns at once, for a command that ends by itself. The output goes to
    `output` (a file path, appended to at each start, or an open file), or nowhere.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        output: Path | IO[bytes] | None = None,
        ready: Callable[[], bool] | None = None,
        startup_seconds: float = 60,
    ) -> None:
        self.argv = argv
        self.env = env
        self.output = output
        self.ready = ready
        self.startup_seconds = startup_seconds
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert not self.running(), f"{self.argv[0]} is running already"
        if isinstance(self.output, Path):
            with self.output.open("ab") as output:
                self.process = self._popen(output)
        else:
            self.process = self._popen(self.output)
        if self.ready is None:
            return
        deadline = time.monotonic() + self.startup_seconds
        while not self._is_ready():
            assert self.running(), f"{self.argv} exited during startup\n{self.output_tail()}"
            assert time.monotonic() < deadline, f"{self.argv} never got ready\n{self.output_tail()}"
            time.sleep(0.1)

    def _popen(self, output: IO[bytes] | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=output or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
            start_new_session=True,
        )

    def _is_ready(self) -> bool:
        assert self.ready is not None
        try:
            return self.ready()
        except (OSError, httpx.TransportError):
            return False

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def send_signal(self, sig: signal.Signals) -> None:
        """To the main process only, as a container runtime signals a container's PID 1."""
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL to every process of the group at once, as when a container is killed."""
        if self.running():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the group, SIGKILL if it has not ended within `timeout`."""
        if self.running():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def output_tail(self) -> str:
        if isinstance(self.output, Path) and self.output.exists():
            return self.output.read_text()[-3000:]
        return ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Uvicorn(ServerProcess):
    """A `uvicorn foodgraph.asgi:application` process on production's HTTP protocol, on a free
    `port`; its output goes to `output`, or nowhere."""

    def __init__(self, env: dict[str, str], output: IO[bytes] | None = None) -> None:
        self.port = free_port()
        argv = [
            *(sys.executable, "-m", "uvicorn", "foodgraph.asgi:application"),
            *("--http", HTTP_PROTOCOL, "--port", str(self.port)),
        ]
        ready = lambda: get(self.port, "/healthz")[0] == 200  # noqa: E731
        super().__init__(argv, env=env, output=output, ready=ready, startup_seconds=30)


@contextmanager
def uvicorn(env: dict[str, str], output: IO[bytes] | None = None) -> Iterator[int]:
    """A `Uvicorn` process, up; yields its port."""
    with Uvicorn(env, output) as server:
        yield server.port


class WebServer(ServerProcess):
    """foodgraph's web container as a local process group (uvicorn and its workers): the
    manifest's argv on a free port, the image's and the ConfigMap's environment, a Secret
    made up here; ready when the kubelet's readiness probe would say so."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        self.port = free_port()
        (directory / "tmp").mkdir(exist_ok=True)
        (directory / "static").mkdir(exist_ok=True)
        env = {
            **image_env(),
            **WEB_CONFIG["data"],
            # The Secret's keys (k8s/web/secrets.example.yaml).
            "DJANGO_SECRET_KEY": f"faults-{uuid.uuid4().hex}{uuid.uuid4().hex}",
            "DATABASE_URL": database_url,
            # The cluster's `redis` Service is the local Redis here, with keys of this run's.
            "REDIS_URL": local_redis_url(),
            "CACHE_KEY_PREFIX": f"faults-{uuid.uuid4().hex}",
            # The checkout stands in for the image, as in tests/test_deploy.py.
            "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "TMPDIR": str(directory / "tmp"),
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir_under(directory / "tmp"),
            "DJANGO_STATIC_ROOT": str(directory / "static"),
            # Tokens outlive the test; the default 5 minutes could end a long stress run.
            "JWT_ACCESS_TOKEN_LIFETIME": "3600",
        }
        argv = with_option(
            with_option(container_argv(WEB_CONTAINER), "--host", "127.0.0.1"),
            "--port",
            str(self.port),
        )
        super().__init__(
            argv, env=env, output=directory / "web.log", ready=lambda: self.readiness()[0] == 200
        )

    def readiness(self) -> tuple[int, float]:
        """(status, seconds) of the kubelet's readiness probe; 0 if nothing answered in time."""
        started = time.monotonic()
        try:
            with GraphQLClient(
                self.port, headers=PROBE_HEADERS, timeout=READINESS["timeoutSeconds"]
            ) as client:
                status = client.request("GET", READINESS["httpGet"]["path"]).status_code
        except httpx.HTTPError:
            status = 0
        return status, time.monotonic() - started

    def run_task(self, *argv: str) -> str:
        """A one-off command in the pod's environment (init containers, seeding)."""
        result = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


def find_program(*names: str) -> str:
    for name in names:
        for directory in (None, "/usr/sbin", "/usr/local/sbin"):
            found = shutil.which(name, path=directory)
            if found:
                return found
    message = f"none of {names} is installed (the MariaDB server package)"
    if os.environ.get("FOODGRAPH_TEST_MYSQL") == "required":
        pytest.fail(message)
    pytest.skip(message)


class MariaDBServer(ServerProcess):
    """A mariadbd of our own, configured like production's, that a test may stop and kill."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.datadir = directory / "data"
        self.port = free_port()
        self.config = directory / "foodgraph.cnf"
        server_config = load_manifest("mysql/configmap.yaml")
        self.config.write_text(server_config["data"]["foodgraph.cnf"])
        mariadbd = find_program("mariadbd", "mysqld")
        install_db = find_program("mariadb-install-db", "mysql_install_db")
        subprocess.run(
            [
                install_db,
                f"--defaults-file={self.config}",
                f"--datadir={self.datadir}",
                f"--user={getpass.getuser()}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        argv = [
            mariadbd,
            f"--defaults-file={self.config}",  # must come first
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={directory / 'mysqld.sock'}",
            f"--pid-file={directory / 'mysqld.pid'}",
            f"--log-error={directory / 'error.log'}",
            f"--user={getpass.getuser()}",
            # Production's pool is sized for a 1 GiB pod; a test machine is shared.
            "--innodb-buffer-pool-size=64M",
            # A deadlock is a bug here: its report goes to error.log.
            "--innodb-print-all-deadlocks=ON",
        ]
        super().__init__(argv, ready=self.answers)

    def answers(self) -> bool:
        import MySQLdb

        try:
            MySQLdb.connect(
                host="127.0.0.1", port=self.port, user="root", connect_timeout=2
            ).close()
        except MySQLdb.Error:
            return False
        return True

    def go_down(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown (what `kubectl delete pod` sends); SIGKILL: a crash;
        SIGSTOP: a frozen server (a hung node, a cut network) that still accepts connections."""
        self.send_signal(sig)
        if sig != signal.SIGSTOP:
            self.wait(timeout=60)

    def resume(self) -> None:
        """Back after go_down(): thawed if frozen, else started again on the same data."""
        if self.running():
            self.send_signal(signal.SIGCONT)
        else:
            self.start()

    def output_tail(self) -> str:
        path = self.directory / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def query(self, database: str, sql: str) -> list[tuple[Any, ...]]:
        import MySQLdb

        connection = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", db=database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()


# Environments of server processes.


def database_url(name: str) -> str:
    """The URL of database `name` on the test MySQL server."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"], safe="") + (
        f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    )
    return f"mysql://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{name}"


def demo_site_env(directory: Path, **overrides: str) -> dict[str, str]:
    """The environment of a production-mode foodgraph on its own SQLite database in
    `directory`, migrated and filled with the demo data (`seed_demo`), whatever database the
    suite runs on; `overrides` are more settings."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "demo-site-test-only-secret-key-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        **overrides,
    }
    for command in (["migrate", "--noinput", "-v0"], ["seed_demo", "--force"]):
        manage(env, *command)
    return env


def manage(env: dict[str, str], *command: str) -> None:
    """`manage.py` with `command`, in `env`; its output in the failure when it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def production_env(**overrides: str) -> dict[str, str]:
    """The environment of a production server on the test database, trusting this
    process's tokens."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(settings.DATABASES["default"]["NAME"]),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.JWT_SIGNING_KEY,
        **overrides,
    }


def local_redis_url() -> str:
    """The Redis that tests use for the cluster's `redis` Service (the CI machine runs one)."""
    return os.environ.get("FOODGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unreachable_database_url() -> str:
    """A database nothing answers for: MySQL on a closed port (SQLite without mysqlclient)."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        return "sqlite:////nonexistent-dir/db.sqlite3"
    return f"mysql://root@127.0.0.1:{free_port()}/foodgraph"


@contextmanager
def not_redis() -> Iterator[str]:
    """A Redis URL naming a server that answers in another protocol; yields the URL.

    Reachable, so a client's error is not an outage: what Redis misconfigured looks like.
    """
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: the context is over
                return
            with client:
                client.recv(1024)
                client.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        listener.close()
