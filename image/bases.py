"""Stand-in base images for the Dockerfile's PYTHON_IMAGE and NODE_IMAGE, from Debian packages.

No container registry is reachable from the CI machines, so the official python and node images
cannot be pulled. mmdebstrap builds a minimal Debian bookworm root filesystem (the `minbase`
variant: essential packages, apt and the required ones, as in Debian's slim images) from the
host's package mirrors, with the packages below, and `podman import` turns it into an image
with the environment the official images set. apt in the image uses Debian's mirrors, so the
Dockerfile's `apt-get install` steps work as with the official images.

An image's tag carries a hash of what it is made of: a base is built once and reused until
its recipe changes (`podman image exists`).
"""

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
VARIANT = "minbase"
# The official images' PATH; an imported root filesystem has no environment at all.
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What Debian's slim images leave out, for later `apt-get install`s too (a dpkg setting in the
# image); fewer files also make the build quicker.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/man/*",
)
# dpkg without fsync while the root filesystem is made (minutes saved on a busy disk); the
# hook removes eatmydata again.
EATMYDATA_HOOK = "/usr/share/mmdebstrap/hooks/eatmydata"


@dataclass(frozen=True)
class Base:
    build_arg: str
    name: str
    packages: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cmd: tuple[str, ...]

    @property
    def tag(self) -> str:
        recipe = json.dumps([SUITE, VARIANT, DPKG_OPTIONS, self.packages, self.env, self.cmd])
        digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
        return f"localhost/foodgraph-stand-in/{self.name}:{SUITE}-{digest}"


BASES = (
    # python:3.11-slim-bookworm: Debian's Python 3.11 instead of a python.org build in
    # /usr/local; python-is-python3 provides the `python` the Dockerfile runs, and python3-dev
    # the headers that mysqlclient compiles against.
    Base(
        build_arg="PYTHON_IMAGE",
        name="python",
        packages=("python3", "python3-venv", "python-is-python3", "python3-dev", "ca-certificates"),
        env=(("PATH", PATH), ("LANG", "C.UTF-8")),
        cmd=("python3",),
    ),
    # node:20-bookworm-slim: Debian's Node.js (18) and npm (9).
    Base(
        build_arg="NODE_IMAGE",
        name="node",
        packages=("nodejs", "npm", "ca-certificates"),
        env=(("PATH", PATH),),
        cmd=("node",),
    ),
)


def image_exists(tag: str) -> bool:
    return subprocess.run(["podman", "image", "exists", tag], check=False).returncode == 0


def build(base: Base) -> None:
    with tempfile.TemporaryDirectory(prefix="foodgraph-stand-in-", dir="/var/tmp") as work:
        rootfs = Path(work) / f"{base.name}.tar"
        result = subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                f"--variant={VARIANT}",
                f"--hook-dir={EATMYDATA_HOOK}",
                *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
                f"--include={','.join(base.packages)}",
                SUITE,
                str(rootfs),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
            raise subprocess.CalledProcessError(result.returncode, result.args)
        changes = [f"--change=ENV={name}={value}" for name, value in base.env]
        changes.append(f"--change=CMD={json.dumps(list(base.cmd))}")
        subprocess.run(
            ["podman", "import", "--quiet", *changes, str(rootfs), base.tag],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def ensure_bases() -> dict[str, str]:
    """The Dockerfile's build arguments naming the stand-in bases, built where missing."""
    for base in BASES:
        if image_exists(base.tag):
            print(f"stand-in {base.build_arg}: {base.tag} (cached)", flush=True)
            continue
        started = time.monotonic()
        print(f"stand-in {base.build_arg}: building {base.tag} with mmdebstrap", flush=True)
        build(base)
        print(f"stand-in {base.build_arg}: built in {time.monotonic() - started:.0f} s", flush=True)
    return {base.build_arg: base.tag for base in BASES}
