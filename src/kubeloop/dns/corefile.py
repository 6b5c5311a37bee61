"""The Corefile of the `kube-system/coredns` ConfigMap: parsing and the settings kubeloop honours.

Owns: the Caddyfile-style syntax CoreDNS reads (server blocks `ZONE[:PORT] { ... }`,
directives with arguments and nested blocks, quotes, comments), and turning a Corefile into
`ServerBlock`s with the plugins kubeloop's DNS server implements: `kubernetes` (zones, `pods`,
`ttl`, `fallthrough`, `endpoint_pod_names`), `forward` (addresses or a resolv.conf, `except`,
`max_concurrent`, `force_tcp`), `cache`, `hosts` (inline entries or a hosts file), `log` and
`errors`. Directives that change nothing here (health, ready, prometheus, loop, reload,
loadbalance) are accepted quietly; anything else becomes a warning returned to the caller,
which reports it as an Event: never silently ignored.

Must not: talk to the API or the network. Reading a resolv.conf or hosts file named by the
Corefile is the only I/O (tests pass the path of their own files).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from .records import absolute, in_zone

HARMLESS = {"health", "ready", "prometheus", "loop", "reload", "loadbalance", "debug", "cancel", "any",
            "minimal", "nsid", "whoami"}


class CorefileError(ValueError):
    """The Corefile cannot be read at all (the previous configuration stays in force)."""


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list["Directive"] = field(default_factory=list)
    line: int = 0


@dataclass
class KubernetesPlugin:
    zones: list[str]
    pods: str = "disabled"             # disabled | insecure | verified
    ttl: int = 5
    fallthrough: list[str] | None = None  # None: no fallthrough; []: every zone
    endpoint_pod_names: bool = False


@dataclass
class ForwardPlugin:
    from_zone: str
    to: list[tuple[str, int]]
    except_zones: list[str] = field(default_factory=list)
    max_concurrent: int = 1000
    force_tcp: bool = False
    source: str = ""  # the resolv.conf they came from, if any

    def handles(self, name: str) -> bool:
        return in_zone(name, self.from_zone) and not any(in_zone(name, z) for z in self.except_zones)


@dataclass
class CachePlugin:
    zones: list[str]
    success_ttl: int = 3600
    denial_ttl: int = 1800
    success_min_ttl: int = 5
    denial_min_ttl: int = 5
    success_capacity: int = 9984
    denial_capacity: int = 9984

    def handles(self, name: str) -> bool:
        return any(in_zone(name, z) for z in self.zones)


@dataclass
class HostsPlugin:
    zones: list[str]
    entries: dict[str, list[str]] = field(default_factory=dict)  # name -> addresses, in order
    ttl: int = 3600
    no_reverse: bool = False
    fallthrough: list[str] | None = None

    def handles(self, name: str) -> bool:
        return any(in_zone(name, z) for z in self.zones)

    def reverse(self) -> dict[str, list[str]]:
        """PTR name -> names (first name of each address first), unless no_reverse."""
        out: dict[str, list[str]] = {}
        if not self.no_reverse:
            for name, addrs in self.entries.items():
                for a in addrs:
                    out.setdefault(ipaddress.ip_address(a).reverse_pointer + ".", []).append(name)
        return out

    def falls_through(self, name: str) -> bool:
        if self.fallthrough is None:
            return False
        return not self.fallthrough or any(in_zone(name, z) for z in self.fallthrough)


@dataclass
class ServerBlock:
    zones: list[str]
    port: int = 53
    kubernetes: KubernetesPlugin | None = None
    forward: ForwardPlugin | None = None
    cache: CachePlugin | None = None
    hosts: HostsPlugin | None = None
    log: bool = False
    errors: bool = False

    def matches(self, name: str) -> str | None:
        best = None
        for z in self.zones:
            if in_zone(name, z) and (best is None or len(z) > len(best)):
                best = z
        return best


@dataclass
class Corefile:
    blocks: list[ServerBlock]
    warnings: list[str]

    def block_for(self, name: str) -> ServerBlock | None:
        """The server block that answers `name`: the one with the longest matching zone."""
        best, best_len = None, -1
        for b in self.blocks:
            z = b.matches(name)
            if z is not None and len(z) > best_len:
                best, best_len = b, len(z)
        return best

    @property
    def kubernetes(self) -> tuple[ServerBlock, KubernetesPlugin] | None:
        for b in self.blocks:
            if b.kubernetes is not None:
                return b, b.kubernetes
        return None


# -- syntax -------------------------------------------------------------------------------------

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|`([^`]*)`|([^\s"`]+)|(\n)', re.S)


def _tokens(text: str) -> list[tuple[str, int, bool]]:
    """(token, line, quoted) with "\\n" tokens marking line ends; comments dropped."""
    out: list[tuple[str, int, bool]] = []
    line = 1
    pos = 0
    while pos < len(text):
        c = text[pos]
        if c == "#" and (pos == 0 or text[pos - 1].isspace()):
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
            continue
        if c in " \t\r":
            pos += 1
            continue
        if c == "\\" and text[pos + 1:pos + 2] == "\n":  # line continuation
            pos += 2
            line += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None:
            if c == '"':
                raise CorefileError(f"line {line}: unterminated quoted string")
            raise CorefileError(f"line {line}: cannot read {text[pos:pos + 20]!r}")
        if m.group(4):
            out.append(("\n", line, False))
            line += 1
        elif m.group(1) is not None:
            out.append((re.sub(r"\\(.)", r"\1", m.group(1)), line, True))
            line += m.group(0).count("\n")
        elif m.group(2) is not None:
            out.append((m.group(2), line, True))
            line += m.group(0).count("\n")
        else:
            out.append((m.group(3), line, False))
        pos = m.end()
    return out


def _lines(tokens: list[tuple[str, int, bool]], i: int, nested: bool) -> tuple[list[Directive], int]:
    """Directives until the closing brace (nested) or the end; returns (directives, next index)."""
    out: list[Directive] = []
    while i < len(tokens):
        tok, line, quoted = tokens[i]
        if tok == "\n":
            i += 1
            continue
        if tok == "}" and not quoted:
            if not nested:
                raise CorefileError(f"line {line}: unexpected '}}'")
            return out, i + 1
        if tok == "{" and not quoted:
            raise CorefileError(f"line {line}: unexpected '{{'")
        d = Directive(tok, [], [], line)
        i += 1
        while i < len(tokens) and tokens[i][0] != "\n":
            t, ln, q = tokens[i]
            if t == "{" and not q:
                d.block, i = _lines(tokens, i + 1, True)
                break
            if t == "}" and not q:
                break  # closes the enclosing block on the same line
            d.args.append(t)
            i += 1
        out.append(d)
    if nested:
        raise CorefileError("missing '}' at the end of the Corefile")
    return out, i


def parse_blocks(text: str) -> list[tuple[list[str], list[Directive], int]]:
    """The server blocks of a Corefile as (keys, directives, line)."""
    tokens = _tokens(text)
    n = len(tokens)

    def is_open(j: int) -> bool:
        return tokens[j][0] == "{" and not tokens[j][2]

    blocks: list[tuple[list[str], list[Directive], int]] = []
    i = 0
    while i < n:
        if tokens[i][0] == "\n":
            i += 1
            continue
        line = tokens[i][1]
        keys: list[str] = []
        while i < n and tokens[i][0] != "\n" and not is_open(i):
            if tokens[i][0] == "}" and not tokens[i][2]:
                raise CorefileError(f"line {tokens[i][1]}: unexpected '}}'")
            keys += [k for k in tokens[i][0].split(",") if k]
            i += 1
        j = i
        while j < n and tokens[j][0] == "\n":
            j += 1
        if j < n and is_open(j):
            body, i = _lines(tokens, j + 1, True)
        elif not blocks:  # one server block without braces: the rest of the file is its body
            body, i = _lines(tokens, j, False)
        else:
            raise CorefileError(f"line {line}: server block {' '.join(keys)} has no '{{'")
        blocks.append((keys, body, line))
    return blocks


# -- semantics ----------------------------------------------------------------------------------

def _parse_key(key: str) -> tuple[str, int, str]:
    """'dns://cluster.local:53' -> ('cluster.local.', 53, 'dns')."""
    scheme = "dns"
    if "://" in key:
        scheme, key = key.split("://", 1)
    port = 53
    if key.startswith("[") and "]" in key:  # [::1]:53 style is not a zone; keep as is
        host, _, rest = key[1:].partition("]")
        key = host
        if rest.startswith(":"):
            port = int(rest[1:])
    elif ":" in key:
        key, _, p = key.rpartition(":")
        port = int(p) if p else 53
    if "/" in key:  # 10.0.0.0/8 style reverse zones
        try:
            net = ipaddress.ip_network(key, strict=False)
            key = ".".join(net.network_address.reverse_pointer.split(".")[(32 - net.prefixlen) // 8:]) \
                if net.version == 4 else key
        except ValueError:
            pass
    return absolute(key or "."), port, scheme


def _int(value: str, what: str, warnings: list[str], default: int) -> int:
    v = value.rstrip("s")
    try:
        n = int(v)
        if n < 0:
            raise ValueError
        return n
    except ValueError:
        warnings.append(f"{what}: {value!r} is not a number of seconds; using {default}")
        return default


def parse_address(text: str, default_port: int = 53) -> tuple[str, int]:
    """'1.2.3.4', '1.2.3.4:5353', 'dns://[::1]:53', '::1' -> (address, port)."""
    t = text
    if "://" in t:
        scheme, t = t.split("://", 1)
        if scheme != "dns":
            raise ValueError(f"{scheme}:// upstreams are not supported")
    port = default_port
    if t.startswith("["):
        host, _, rest = t[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif t.count(":") == 1:
        host, _, p = t.partition(":")
        port = int(p)
    else:
        host = t
    ip = ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"bad port {port}")
    return str(ip), port


def read_resolv_conf(path: str | Path = "/etc/resolv.conf") -> list[tuple[str, int]]:
    out = []
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                out.append(parse_address(parts[1].split("%", 1)[0]))
            except ValueError:
                continue
    return out


def _kubernetes(d: Directive, block_zones: list[str], warnings: list[str]) -> KubernetesPlugin:
    zones = [absolute(z) for z in d.args] or list(block_zones)
    k = KubernetesPlugin(zones)
    for sub in d.block:
        name, args = sub.name, sub.args
        if name == "pods":
            mode = (args or [""])[0]
            if mode in ("disabled", "insecure", "verified"):
                k.pods = mode
            else:
                warnings.append(f"kubernetes: pods {mode!r} is not disabled, insecure or verified; using disabled")
        elif name == "ttl":
            k.ttl = _int((args or ["5"])[0], "kubernetes ttl", warnings, 5)
            if k.ttl > 3600:
                warnings.append(f"kubernetes: ttl {k.ttl} is above the maximum of 3600; using 3600")
                k.ttl = 3600
        elif name == "fallthrough":
            k.fallthrough = [absolute(z) for z in args]
        elif name == "endpoint_pod_names":
            k.endpoint_pod_names = True
        elif name in ("kubeconfig", "endpoint", "tls"):
            warnings.append(f"kubernetes: {name} is ignored; kubeloop's DNS reads the API it was started with")
        else:
            warnings.append(f"kubernetes: option {name!r} is not supported by kubeloop's DNS and is ignored")
    return k


def _forward(d: Directive, warnings: list[str], resolv_conf: str | Path) -> ForwardPlugin | None:
    if len(d.args) < 2:
        warnings.append("forward needs a zone and at least one upstream; ignored")
        return None
    f = ForwardPlugin(absolute(d.args[0]), [])
    for target in d.args[1:]:
        if target.startswith("/"):  # a resolv.conf-style file
            path = resolv_conf if target == "/etc/resolv.conf" else target
            servers = read_resolv_conf(path)
            if not servers:
                warnings.append(f"forward: no nameserver found in {target}")
            f.to += servers
            f.source = target
            continue
        try:
            f.to.append(parse_address(target))
        except ValueError as e:
            warnings.append(f"forward: upstream {target!r} ignored: {e}")
    for sub in d.block:
        name, args = sub.name, sub.args
        if name == "except":
            f.except_zones += [absolute(z) for z in args]
        elif name == "max_concurrent":
            f.max_concurrent = _int((args or ["1000"])[0], "forward max_concurrent", warnings, 1000)
        elif name == "force_tcp":
            f.force_tcp = True
        elif name in ("prefer_udp", "policy", "health_check", "max_fails", "expire", "max_idle_conns",
                      "failfast_all_unhealthy_upstreams", "next"):
            pass  # tuning of CoreDNS's connection pool: no effect on answers
        else:
            warnings.append(f"forward: option {name!r} is not supported by kubeloop's DNS and is ignored")
    return f


def _cache(d: Directive, block_zones: list[str], warnings: list[str]) -> CachePlugin:
    args = list(d.args)
    c = CachePlugin(list(block_zones))
    if args and args[0].rstrip("s").isdigit():
        ttl = _int(args.pop(0), "cache", warnings, 3600)
        c.success_ttl = c.denial_ttl = ttl
    if args:
        c.zones = [absolute(z) for z in args]
    for sub in d.block:
        name, a = sub.name, sub.args
        if name in ("success", "denial") and a:
            cap = _int(a[0], f"cache {name}", warnings, 9984)
            ttl = _int(a[1], f"cache {name}", warnings, 0) if len(a) > 1 else None
            minttl = _int(a[2], f"cache {name}", warnings, 5) if len(a) > 2 else None
            setattr(c, f"{name}_capacity", cap)
            if ttl is not None:
                setattr(c, f"{name}_ttl", ttl)
            if minttl is not None:
                setattr(c, f"{name}_min_ttl", minttl)
        elif name in ("prefetch", "serve_stale", "servfail", "disable", "keepttl"):
            warnings.append(f"cache: option {name!r} is not supported by kubeloop's DNS and is ignored")
        else:
            warnings.append(f"cache: unknown option {name!r} ignored")
    return c


def _hosts_lines(lines: list[list[str]], h: HostsPlugin, where: str, warnings: list[str]) -> None:
    for parts in lines:
        if len(parts) < 2:
            continue
        try:
            ip = str(ipaddress.ip_address(parts[0].split("%", 1)[0]))
        except ValueError:
            warnings.append(f"hosts: {where}: {parts[0]!r} is not an IP address; line ignored")
            continue
        for n in parts[1:]:
            addrs = h.entries.setdefault(absolute(n), [])
            if ip not in addrs:
                addrs.append(ip)


def _hosts(d: Directive, block_zones: list[str], warnings: list[str]) -> HostsPlugin:
    h = HostsPlugin(list(block_zones))
    args = list(d.args)
    if args:
        path = args.pop(0)
        try:
            text = Path(path).read_text()
            _hosts_lines([ln.split("#", 1)[0].split() for ln in text.splitlines()], h, path, warnings)
        except OSError as e:
            warnings.append(f"hosts: cannot read {path}: {e.strerror or e}")
        if args:
            h.zones = [absolute(z) for z in args]
    inline: list[list[str]] = []
    for sub in d.block:
        name, a = sub.name, sub.args
        if name == "ttl":
            h.ttl = _int((a or ["3600"])[0], "hosts ttl", warnings, 3600)
        elif name == "no_reverse":
            h.no_reverse = True
        elif name == "fallthrough":
            h.fallthrough = [absolute(z) for z in a]
        elif name == "reload":
            pass  # files are read again whenever the ConfigMap changes
        else:
            inline.append([name, *a])
    _hosts_lines(inline, h, "inline", warnings)
    return h


def parse_corefile(text: str, *, resolv_conf: str | Path = "/etc/resolv.conf") -> Corefile:
    """The server blocks kubeloop serves from a Corefile, and warnings for what it does not honour.

    Raises CorefileError when the text is not a Corefile at all."""
    warnings: list[str] = []
    blocks: list[ServerBlock] = []
    for keys, body, line in parse_blocks(text):
        zones, port = [], 53
        for key in keys:
            try:
                zone, port, scheme = _parse_key(key)
            except ValueError:
                raise CorefileError(f"line {line}: cannot read server block key {key!r}") from None
            if scheme != "dns":
                warnings.append(f"server block {key}: {scheme}:// servers are not supported; block ignored")
                zones = []
                break
            zones.append(zone)
        if not zones:
            continue
        if port != 53:
            warnings.append(f"server block {' '.join(keys)}: port {port} is not served "
                            "(kubeloop's DNS listens on the kube-dns Service's port 53); block ignored")
            continue
        b = ServerBlock(zones, port)
        for d in body:
            if d.name == "kubernetes":
                b.kubernetes = _kubernetes(d, zones, warnings)
            elif d.name == "forward":
                b.forward = _forward(d, warnings, resolv_conf)
            elif d.name == "cache":
                b.cache = _cache(d, zones, warnings)
            elif d.name == "hosts":
                b.hosts = _hosts(d, zones, warnings)
            elif d.name == "log":
                b.log = True
            elif d.name == "errors":
                b.errors = True
            elif d.name in HARMLESS:
                pass
            elif d.name in ("import",) or d.name.startswith("("):
                warnings.append(f"line {d.line}: {d.name} (snippets and imports) is not supported; ignored")
            else:
                warnings.append(f"line {d.line}: plugin {d.name!r} is not supported by kubeloop's DNS and is ignored")
        blocks.append(b)
    kube = [b for b in blocks if b.kubernetes is not None]
    if len(kube) > 1:
        warnings.append("only the first server block with a kubernetes plugin is served by kubernetes records")
        for b in kube[1:]:
            b.kubernetes = None
    if not blocks:
        warnings.append("the Corefile has no server block for port 53; every query is refused")
    return Corefile(blocks, warnings)


def default_corefile(cluster_domain: str = "cluster.local", upstreams: list[str] | None = None) -> str:
    """The Corefile kind and kubeadm ship; upstreams default to the host's /etc/resolv.conf."""
    forward = " ".join(upstreams) if upstreams else "/etc/resolv.conf"
    zone = cluster_domain.strip(".")
    return (
        ".:53 {\n"
        "    errors\n"
        "    health {\n"
        "       lameduck 5s\n"
        "    }\n"
        "    ready\n"
        f"    kubernetes {zone} in-addr.arpa ip6.arpa {{\n"
        "       pods insecure\n"
        "       fallthrough in-addr.arpa ip6.arpa\n"
        "       ttl 30\n"
        "    }\n"
        "    prometheus :9153\n"
        f"    forward . {forward} {{\n"
        "       max_concurrent 1000\n"
        "    }\n"
        "    cache 30\n"
        "    loop\n"
        "    reload\n"
        "    loadbalance\n"
        "}\n"
    )
