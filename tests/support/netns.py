"""Hosts with their own addresses on this machine: Linux network namespaces joined by a bridge.

    with NamespacedHosts(2) as hosts:        # needs root (CAP_SYS_ADMIN) and iproute2's ``ip``
        hosts.addresses                      # ['10.213.0.1', '10.213.0.2']
        hosts.names                          # the namespaces, for procs.start(..., netns=name)
        hosts.cut(1)                         # host 1's link goes down: a lost machine, seen from the others

Every interface lives inside namespaces made here: a ``hub`` namespace holds the bridge, each host namespace
holds one end of a veth pair (the other end is on the bridge) plus its own loopback. Nothing is created in,
or routed to, the machine's own network namespace, so the traffic stays between the namespaces made here.
Names carry the pid and a random part, so two runs at once do not collide; :meth:`NamespacedHosts.remove`
deletes them all (the namespaces' interfaces go with them), also after a failed set-up.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Sequence

SUBNET = "10.213.0"  # a /24 that exists only inside the namespaces made here
BRIDGE = "br0"
HOST_LINK = "eth0"


class NamespacesUnavailable(RuntimeError):
    """This machine does not let us make network namespaces (no ``ip``, or not root); the message says why."""


def _ip(*args: str) -> None:
    """Run ``ip args``; raise with ip's own message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")


def existing() -> list[str]:
    """The network namespaces that ``ip netns`` lists now."""
    if shutil.which("ip") is None:
        return []
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


class NamespacedHosts:
    """``count`` network namespaces ("hosts"), host ``i`` at ``10.213.0.<i+1>``, all on one bridge.

    Raises :class:`NamespacesUnavailable` from :meth:`create` when namespaces cannot be made here.
    """

    def __init__(self, count: int):
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.count = count
        self.tag = f"tfh{secrets.token_hex(3)}"
        self.hub = f"{self.tag}-hub"
        self.names = [f"{self.tag}-host{i}" for i in range(count)]
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(count)]
        self.made: list[str] = []

    def create(self) -> NamespacedHosts:
        """Make the hub (with its bridge) and every host; on any failure remove what was made and raise."""
        if shutil.which("ip") is None:
            raise NamespacesUnavailable("iproute2's `ip` is not installed")
        try:
            _ip("netns", "add", self.hub)
        except RuntimeError as err:
            raise NamespacesUnavailable(f"cannot make a network namespace here ({err}); it needs root") from None
        self.made.append(self.hub)
        try:
            _ip("-n", self.hub, "link", "add", BRIDGE, "type", "bridge")
            _ip("-n", self.hub, "link", "set", BRIDGE, "up")
            for index, (name, address) in enumerate(zip(self.names, self.addresses, strict=True)):
                _ip("netns", "add", name)
                self.made.append(name)
                # Both ends are created straight inside their namespaces: nothing appears in the machine's own.
                _ip("link", "add", HOST_LINK, "netns", name, "type", "veth",
                    "peer", "name", self.hub_link(index), "netns", self.hub)
                _ip("-n", self.hub, "link", "set", self.hub_link(index), "master", BRIDGE, "up")
                _ip("-n", name, "addr", "add", f"{address}/24", "dev", HOST_LINK)
                _ip("-n", name, "link", "set", HOST_LINK, "up")
                _ip("-n", name, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise
        return self

    @staticmethod
    def hub_link(index: int) -> str:
        """The bridge-side end of host ``index``'s veth pair (it lives in the hub namespace)."""
        return f"port{index}"

    def cut(self, index: int) -> None:
        """Take host ``index``'s link down on the bridge side: its packets go nowhere, and no reset reaches
        the others (a pulled cable or a dead switch port, not a crashed process)."""
        _ip("-n", self.hub, "link", "set", self.hub_link(index), "down")

    def reconnect(self, index: int) -> None:
        """Bring host ``index``'s link back up."""
        _ip("-n", self.hub, "link", "set", self.hub_link(index), "up")

    def remove(self) -> None:
        """Delete every namespace made here (their interfaces go with them); safe to call twice."""
        errors = []
        for name in reversed(self.made):
            try:
                _ip("netns", "del", name)
            except RuntimeError as err:
                errors.append(str(err))
        self.made = []
        if errors:
            raise RuntimeError("could not remove every namespace:\n" + "\n".join(errors))

    def __enter__(self) -> NamespacedHosts:
        return self.create()

    def __exit__(self, *exc) -> None:
        self.remove()

    def listening(self, index: int) -> Sequence[str]:
        """The TCP addresses something listens on inside host ``index`` (``ss -ltn``'s local column)."""
        done = subprocess.run(["ip", "netns", "exec", self.names[index], "ss", "-ltnH"], capture_output=True,
                              text=True, timeout=20, stdin=subprocess.DEVNULL)
        return [line.split()[3] for line in done.stdout.splitlines() if line.strip()]
