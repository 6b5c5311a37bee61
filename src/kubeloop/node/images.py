"""The built-in image catalog: which image names kubeloop can run, and how.

Pods are host processes, so an "image" is an entrypoint: a catalog image maps to a program
shipped with kubeloop (or a host tool); a container with an explicit `command` runs that
command from the host's filesystem whatever its image. Anything else cannot be pulled: the
container stays Waiting with ErrImagePull / ImagePullBackOff and a message listing what
kubeloop can run. To add an image, add an entry to CATALOG (docs/images.md explains).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    entrypoint: tuple[str, ...]  # the image's ENTRYPOINT
    cmd: tuple[str, ...]  # the image's CMD (replaced by a container's `args`)
    description: str


def _py(module: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", module, *args)


_SHELL = "the host's shell tools"
CATALOG: dict[str, Image] = {
    "luksa/kubia": Image(_py("kubeloop.images.kubia"), (), "HTTP on :8080 answering \"You've hit <pod name>\""),
    "luksa/kubia-unhealthy": Image(_py("kubeloop.images.kubia", "--unhealthy"), (),
                                   "kubia answering 500 after five requests (liveness demos)"),
    "tutum/dnsutils": Image((), ("sleep", "infinity"), "the host's dig, nslookup, curl and shell tools"),
    "busybox": Image((), ("sh",), _SHELL),
    "alpine": Image((), ("sh",), _SHELL),
    "ubuntu": Image((), ("bash",), _SHELL),
    "debian": Image((), ("bash",), _SHELL),
    "curlimages/curl": Image(("curl",), (), "the host's curl"),
    "nicolaka/netshoot": Image((), ("sleep", "infinity"), "the host's network tools"),
}


def normalise(image: str) -> str:
    """`docker.io/library/busybox:1.36` → `busybox`; `luksa/kubia:v1` → `luksa/kubia`."""
    name = image.strip()
    if "@" in name:
        name = name.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/", "registry.hub.docker.com/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name.startswith("library/"):
        name = name[len("library/"):]
    return name


class ImageNotFound(Exception):
    pass


def resolve(image: str, command: list[str] | None, args: list[str] | None) -> list[str]:
    """The argv a container runs: Kubernetes' command/args rules over the image's ENTRYPOINT/CMD."""
    if command:
        return list(command) + list(args or [])
    entry = CATALOG.get(normalise(image))
    if entry is None:
        raise ImageNotFound(
            f'image "{image}" is not in kubeloop\'s catalog and the container has no command; kubeloop can run '
            f"{', '.join(sorted(CATALOG))}, or any image with an explicit command from the host"
        )
    argv = list(entry.entrypoint) + (list(args) if args else list(entry.cmd))
    if not argv:
        raise ImageNotFound(f'image "{image}" has no entrypoint: give the container a command')
    return argv


def executable_exists(argv0: str) -> bool:
    return shutil.which(argv0) is not None
