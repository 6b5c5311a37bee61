"""The nftables ruleset of the service proxy, rendered as ``nft -f`` scripts (pure; no I/O).

The design follows kube-proxy's nftables mode (but picks endpoints through shared maps instead of
per-endpoint chains), in one table ``ip kubeloop``:

* base chains: ``nat-prerouting``/``nat-output`` (priority dstnat) jump to ``services``;
  ``nat-postrouting`` (srcnat) jumps to ``masquerading``, which masquerades (fully random
  ports) what ``mark-for-masquerade`` marked and hairpin connections (a pod reaching itself
  through a service: source and DNAT target are the same address, looked up in the
  ``hairpin`` set); filter chains at dstnat-10 on input/forward/output send new connections
  through ``service-endpoints-check``/``nodeport-endpoints-check`` (``reject`` -- TCP reset or
  ICMP port unreachable -- for services without endpoints, so clients fail at once; ``drop``
  for Local policies without a local endpoint, as Kubernetes does) and, after DNAT,
  ``cluster-ips-check`` rejects unknown ports of cluster IPs;
* ``services`` marks traffic to cluster IPs forwarded from outside the pod network for
  masquerade (kube-proxy's ``--cluster-cidr``; unlike kube-proxy, not this namespace's own
  traffic, which returns here anyway: its ports stay its own) and looks the destination up in two verdict maps:
  ``service-ips`` (``ipv4_addr . inet_proto . inet_service``: cluster IPs, external IPs,
  load-balancer IPs) and, for destinations in ``nodeport-ips``, ``service-nodeports``
  (``inet_proto . inet_service``);
* per service port (H = hash of ``namespace/name:port/protocol``): ``svc-H`` picks one of the
  cluster-wide endpoints at random; ``loc-H`` the same over this node's endpoints (Local
  policies); ``ext-H`` for external destinations (NodePort, external IPs, LB IPs) marks for
  masquerade under ``externalTrafficPolicy: Cluster`` (the pod sees a node address) or,
  under ``Local``, sends pods and the node itself cluster-wide and everyone else to ``loc-H``
  unmasqueraded (the pod sees the real client), ``drop`` when no endpoint is local;
* the random pick is one rule, ``meta l4proto P dnat ip to numgen random mod N offset B map
  @endpoints-P-G``: the endpoint maps (``numgen`` value -> ``ip . port``, one set of maps per
  protocol P) are shared, each pick
  chain owns the keys B..B+N-1 of one of them (a slot, allocated by ``RuleState`` and kept
  while the chain exists, so an endpoint change rewrites only its elements), and each
  element carries a counter: the connections that picked that endpoint (they restart when
  the element is rewritten or the maps are refilled by a full resync). A pick wider than
  ``PICK_STRIDE`` keys falls back to rules (below);
* session affinity (``sessionAffinity: ClientIP``): per endpoint a dynamic set ``aff-E``
  (E hashes the service port, the endpoint and the timeout) with the affinity timeout; the
  pick chain first sends a known client back to its endpoint (``ip saddr @aff-E ... dnat``),
  then picks with a cascade of ``numgen random mod (N-i) == 0`` rules (rule i takes 1/(N-i)
  of what reaches it); each of those rules refreshes the client in the set, counts
  (``counter``: so an endpoint's connections are the sum of its two rules) and DNATs;
* host mode (the host network namespace, which is not a node): load-balancer IPs go to
  ``lb-H``, which spreads connections over live nodes' NodePorts the same way (with
  node-level affinity sets ``laff-*`` when the service has affinity) -- the cloud load
  balancer's job.

Hashes are base32 SHA-256 prefixes, so names are short and stable.

What shaped this (nft 1.0.6, kernel 6.18, 2 cores, 10,000 services x 5 endpoints; measured):

* each rule costs ~12 us of kernel time plus nft's parsing (25 us a rule in all), each chain
  ~10 us: the earlier design (a chain and a rule per endpoint, a cascade rule per endpoint)
  had 60,000 chains and 100,000 rules and loaded in 2.3-2.9 s; DNATing in the pick chain
  itself (no endpoint chains) loaded in 1.45 s, the endpoint maps in 1.0 s;
* verdict maps cannot hold the pick: the kernel validates every chain that jumps through a
  verdict map by walking all of its elements, so one shared ``numgen ... vmap`` (bound from
  10,000 chains) took 68 s, and anonymous per-chain maps are quadratic too (the kernel names
  each by scanning the table's sets: 66 s for 20,000); data maps are not validated that way;
* but adding an element to a data map checks it against every rule bound to the map, and
  binding a rule walks the map's elements: one map for all services took 7.8 s, so each map
  serves ``PICK_GROUP`` (64) pick chains (157 maps at 10,000 services);
* per-service named maps cost more than rules: nft reads every set into its cache;
* nft lists the table into its cache before a transaction, more of it when the
  transaction deletes or flushes something: a delete costs 10-15 ms at 1,000 services and
  ~23 ms at 10,000, an add 1.5 ms and ~11 ms; a one-service update (deletes and adds) now
  costs 8-16 ms at 1,000 services and ~20 ms at 10,000 (it was 180-230 ms with 60,000
  chains);
* counters on elements, not named counter objects: nft re-reads every object of the table
  before each transaction (doubled the cost of an update at 1,000 services); a lookup
  updating an element's counter needs a kernel with set element expressions (5.x; tested
  on 6.18);
* the hairpin check is one set lookup (``hairpin``) instead of a rule per endpoint.

The desired state is a set of ``Fragment``s: one per service port plus the global one (key
``""``). ``RuleState.update`` replaces fragments and returns the incremental transaction (new,
changed and removed chains and objects, and map/set elements whose effective value changed),
so a script's size follows the size of the change (``render=False`` skips the script when a
full one follows: building 10,000 services then costs ~0.45 s, with the cyclic garbage
collector paused by ``gc_paused``). ``RuleState.full_script`` renders
everything: ``flush table`` (rules only; sets and their elements stay, so affinity survives)
and every rule again, managed maps flushed and refilled, objects applied earlier but no longer desired
deleted; ``recreate=True`` replaces the table outright (start-up, or repair when a full sync
failed). ``commit`` records what the kernel holds after a successful apply.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import heapq
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, NamedTuple

from .model import EndpointInfo, ServicePortInfo, local_endpoints, select_endpoints

TABLE = "kubeloop"
FAMILY = "ip"
GLOBAL = ""  # fragment key of the table's fixed chains, maps and sets

SERVICES = "services"
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
CLUSTER_IPS = "cluster-ips"
NODEPORT_IPS = "nodeport-ips"
HAIRPIN = "hairpin"
MARK_MASQ = "mark-for-masquerade"
MASQUERADING = "masquerading"
REJECT = "reject-chain"
SERVICE_CHECK = "service-endpoints-check"
NODEPORT_CHECK = "nodeport-endpoints-check"
CLUSTER_IPS_CHECK = "cluster-ips-check"

ENDPOINT_MAP = "endpoints"  # endpoint maps endpoints-tcp-0, endpoints-udp-0, endpoints-tcp-1, ...
PROTOCOLS = ("tcp", "udp", "sctp")


def _endpoint_map(proto: str, group: int) -> str:
    return f"{ENDPOINT_MAP}-{proto}-{group}"

MAPS = "\x00endpoint-maps"  # fragment key of the endpoint maps' declarations (owned by RuleState)
PICK_STRIDE = 4096  # keys per pick chain in an endpoint map; more endpoints fall back to rules
PICK_GROUP = 64  # pick chains per endpoint map (see the module docstring: bindings x elements)

_ELEMENT_CHUNK = 2000  # elements per add/delete element command


@dataclass(frozen=True)
class RenderConfig:
    """What the rules depend on besides services and endpoints.

    ``node_name``: endpoints with this nodeName are local. ``node_ips``: addresses on which
    NodePorts answer (none in host mode). ``cluster_cidr``: the pod network; traffic to a
    cluster IP from outside it is masqueraded and, under ``externalTrafficPolicy: Local``,
    traffic from inside it goes cluster-wide. ``host``: render for the host namespace
    (load-balancer IPs spread over live nodes' NodePorts; no local endpoints, so
    ``internalTrafficPolicy`` is treated as Cluster). ``masquerade_bridges``: pod bridges whose
    bridged traffic bypasses netfilter (no br_netfilter): service connections that enter and
    leave through one of them are masqueraded, else the pod-to-pod reply would skip the
    un-DNAT (and the direct and service paths to a pod would share 4-tuples unseen by
    conntrack, the PAWS stall)."""

    table: str = TABLE
    node_name: str = ""
    node_ips: tuple[str, ...] = ()
    cluster_cidr: str = ""
    masquerade_mark: int = 0x4000
    host: bool = False
    counters: bool = True
    comments: bool = True
    masquerade_bridges: tuple[str, ...] = ()


# -- the model of a ruleset --------------------------------------------------------------

@dataclass(frozen=True)
class Chain:
    """A chain. ``pick``: after ``rules``, DNAT to one of these (ip, port) targets chosen
    uniformly at random, counted per target; ``RuleState`` turns it into one rule and
    elements of an endpoint map (it allocates the keys). ``proto``: the targets' protocol."""

    name: str
    rules: tuple[str, ...] = ()
    hook: str = ""  # base chains: "type nat hook prerouting priority dstnat; policy accept;"
    comment: str = ""
    pick: tuple[tuple[str, int], ...] = ()
    proto: str = ""


@dataclass(frozen=True)
class Obj:
    """A named set, map or counter. ``managed``: its elements are rendered from fragments
    (flushed and refilled by a full sync); unmanaged ones (affinity sets, counters) keep
    what the kernel put in them."""

    kind: str  # "set" | "map" | "counter"
    name: str
    spec: str = ""  # body inside braces for sets and maps
    managed: bool = True


class Element(NamedTuple):
    """One element of a named set or map (a tuple: 120,000 of them are built at 10,000
    services, and a frozen dataclass costs 3x more to create)."""

    container: str
    key: str
    value: str = ""  # verdict or data for maps, "" for sets
    comment: str = ""


@dataclass(frozen=True)
class Fragment:
    chains: tuple[Chain, ...] = ()
    objects: tuple[Obj, ...] = ()
    elements: tuple[Element, ...] = ()


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _hash(*parts: str) -> str:
    """The first 10 base32 characters of the SHA-256 (what base64.b32encode gives, without
    its pure-Python cost: 60,000 names took 0.4 s)."""
    n = int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:7], "big") >> 6
    return "".join([_B32[(n >> shift) & 31] for shift in range(45, -1, -5)])


def chain_hash(port: ServicePortInfo) -> str:
    """The H of ``svc-H``/``ext-H``/``loc-H``/``lb-H`` for a service port."""
    return _hash(port.key)


def endpoint_hash(port: ServicePortInfo, ep: EndpointInfo) -> str:
    """The E of the affinity set ``aff-E`` of one endpoint of a service port."""
    return _hash(port.key, ep.address, str(port.affinity_timeout))


def _q(text: str) -> str:
    return '"' + text.replace('"', "'").replace("\\", "/")[:120] + '"'


# -- the global fragment -----------------------------------------------------------------

def global_fragment(cfg: RenderConfig) -> Fragment:
    mark = f"0x{cfg.masquerade_mark:08x}"
    services = []
    if cfg.cluster_cidr:
        # Only forwarded traffic: what this namespace sends itself comes back to it anyway (the
        # host and every node are on the cluster network; pods answer through their node).
        # Masquerading it would only scramble its source ports (fully random), and a pod then
        # takes new connections for old duplicates of ones in its TIME_WAIT (PAWS: the TCP
        # timestamp offsets differ per connection) and drops them: measured, 3.6 % of new
        # connections from a node waited a second for a SYN retransmission.
        services.append(f"ip daddr @{CLUSTER_IPS} ip saddr != {cfg.cluster_cidr} fib saddr type != local "
                        f"jump {MARK_MASQ}")
    services += [
        f"ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
        f"ip daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}",
    ]
    chains = (
        Chain("nat-prerouting", (f"jump {SERVICES}",), "type nat hook prerouting priority dstnat; policy accept;"),
        Chain("nat-output", (f"jump {SERVICES}",), "type nat hook output priority -100; policy accept;"),
        Chain("nat-postrouting", (f"jump {MASQUERADING}",), "type nat hook postrouting priority srcnat; policy accept;"),
        Chain("filter-input", (f"ct state new jump {NODEPORT_CHECK}", f"ct state new jump {SERVICE_CHECK}"),
              "type filter hook input priority -110; policy accept;"),
        Chain("filter-forward", (f"ct state new jump {SERVICE_CHECK}", f"ct state new jump {CLUSTER_IPS_CHECK}"),
              "type filter hook forward priority -110; policy accept;"),
        Chain("filter-output", (f"ct state new jump {SERVICE_CHECK}",),
              "type filter hook output priority -110; policy accept;"),
        Chain("filter-output-post-dnat", (f"ct state new jump {CLUSTER_IPS_CHECK}",),
              "type filter hook output priority -90; policy accept;"),
        Chain(SERVICES, tuple(services)),
        Chain(MARK_MASQ, (f"meta mark set meta mark or {mark}",)),
        Chain(MASQUERADING, (
            f"ip saddr . ip daddr @{HAIRPIN} jump {MARK_MASQ}",
            *(f'ct status dnat iifname "{br}" oifname "{br}" jump {MARK_MASQ}' for br in cfg.masquerade_bridges),
            f"meta mark & {mark} == 0 return",
            f"meta mark set meta mark xor {mark}",
            "masquerade fully-random",
        )),
        Chain(REJECT, ("meta l4proto tcp reject with tcp reset", "reject")),
        Chain(SERVICE_CHECK, (f"ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",)),
        Chain(NODEPORT_CHECK, (f"ip daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",)),
        Chain(CLUSTER_IPS_CHECK, (f"ip daddr @{CLUSTER_IPS} reject",)),
    )
    objects = (
        Obj("map", SERVICE_IPS, "type ipv4_addr . inet_proto . inet_service : verdict;"),
        Obj("map", SERVICE_NODEPORTS, "type inet_proto . inet_service : verdict;"),
        Obj("map", NO_ENDPOINT_SERVICES, "type ipv4_addr . inet_proto . inet_service : verdict;"),
        Obj("map", NO_ENDPOINT_NODEPORTS, "type inet_proto . inet_service : verdict;"),
        Obj("set", CLUSTER_IPS, "type ipv4_addr;"),
        Obj("set", NODEPORT_IPS, "type ipv4_addr;"),
        Obj("set", HAIRPIN, "type ipv4_addr . ipv4_addr;"),
    )
    elements = tuple(Element(NODEPORT_IPS, ip) for ip in cfg.node_ips)
    return Fragment(chains, objects, elements)


# -- per service port --------------------------------------------------------------------

def service_fragment(port: ServicePortInfo, endpoints: Iterable[EndpointInfo], cfg: RenderConfig,
                     lb_targets: Iterable[str] = ()) -> Fragment:
    """Chains, objects and elements of one service port.

    ``lb_targets`` (host mode): addresses of the live nodes that should receive this port's
    load-balancer traffic on its NodePort."""
    eps = tuple(endpoints)
    h = chain_hash(port)
    proto = port.protocol.lower()
    comment = port.display if cfg.comments else ""
    cluster_eps = select_endpoints(eps)
    local_eps = () if cfg.host else local_endpoints(eps, cfg.node_name)
    svc_chain, loc_chain, ext_chain = f"svc-{h}", f"loc-{h}", f"ext-{h}"

    chains: list[Chain] = []
    objects: list[Obj] = []
    elements: list[Element] = []
    need_svc = need_loc = False

    def verdict(container: str, key: str, value: str) -> None:
        elements.append(Element(container, key, value, comment))

    # Internal traffic: the cluster IP.
    cip_key = f"{port.cluster_ip} . {proto} . {port.port}"
    elements.append(Element(CLUSTER_IPS, port.cluster_ip))
    internal_local = port.internal_policy_local and not cfg.host
    if internal_local and local_eps:
        verdict(SERVICE_IPS, cip_key, f"goto {loc_chain}")
        need_loc = True
    elif cluster_eps and not internal_local:
        verdict(SERVICE_IPS, cip_key, f"goto {svc_chain}")
        need_svc = True
    elif cluster_eps:  # internalTrafficPolicy: Local without a local endpoint
        verdict(NO_ENDPOINT_SERVICES, cip_key, "drop")
    else:
        verdict(NO_ENDPOINT_SERVICES, cip_key, f"goto {REJECT}")

    # External traffic: NodePort, external IPs, load-balancer IPs.
    if port.has_external:
        external_ips = list(port.external_ips)
        lb_ips = list(port.load_balancer_ips)
        if not (cfg.host and port.node_port):
            # On a node (or without a NodePort) an LB IP is handled like an external IP.
            external_ips += [ip for ip in lb_ips if ip not in external_ips]
            lb_ips = []
        nodeport = bool(port.node_port and cfg.node_ips)
        if cluster_eps and (external_ips or nodeport):
            rules: list[str] = []
            if port.external_policy_local:
                if cfg.cluster_cidr:
                    rules.append(f"ip saddr {cfg.cluster_cidr} goto {svc_chain}")
                rules.append(f"fib saddr type local jump {MARK_MASQ}")
                rules.append(f"fib saddr type local goto {svc_chain}")
                if local_eps:
                    rules.append(f"goto {loc_chain}")
                    need_loc = True
                else:
                    rules.append("drop")
            else:
                rules += [f"jump {MARK_MASQ}", f"goto {svc_chain}"]
            need_svc = True
            chains.append(Chain(ext_chain, tuple(rules), comment=comment and f"{comment} external"))
            for ip in external_ips:
                verdict(SERVICE_IPS, f"{ip} . {proto} . {port.port}", f"goto {ext_chain}")
            if nodeport:
                verdict(SERVICE_NODEPORTS, f"{proto} . {port.node_port}", f"goto {ext_chain}")
        elif not cluster_eps:
            for ip in external_ips:
                verdict(NO_ENDPOINT_SERVICES, f"{ip} . {proto} . {port.port}", f"goto {REJECT}")
            if nodeport:
                verdict(NO_ENDPOINT_NODEPORTS, f"{proto} . {port.node_port}", f"goto {REJECT}")
        if lb_ips:
            targets = sorted(set(lb_targets), key=ipaddress.IPv4Address)
            if targets and cluster_eps:
                lb_chain = f"lb-{h}"
                lb_comment = comment and f"{comment} load balancer"
                if port.affinity_timeout:
                    picks = []
                    for ip in targets:
                        aff = "laff-" + _hash(port.key, "node", ip, str(port.node_port), str(port.affinity_timeout))
                        objects.append(_affinity_set(aff, port.affinity_timeout))
                        picks.append((ip, port.node_port, aff))
                    chains.append(Chain(lb_chain, _affinity_pick_rules(picks, proto, False), comment=lb_comment))
                else:
                    chains.append(Chain(lb_chain, pick=tuple((ip, port.node_port) for ip in targets), proto=proto,
                                        comment=lb_comment))
                for ip in lb_ips:
                    verdict(SERVICE_IPS, f"{ip} . {proto} . {port.port}", f"goto {lb_chain}")
            else:
                for ip in lb_ips:
                    verdict(NO_ENDPOINT_SERVICES, f"{ip} . {proto} . {port.port}", f"goto {REJECT}")

    # The random pick over the cluster-wide (svc-H) and local (loc-H) endpoints.
    used: dict[EndpointInfo, None] = {}
    for name, wanted, chain_eps, suffix in ((svc_chain, need_svc, cluster_eps, ""),
                                            (loc_chain, need_loc, local_eps, " local")):
        if not wanted:
            continue
        used.update(dict.fromkeys(chain_eps))
        chain_comment = comment and comment + suffix
        if port.affinity_timeout:
            picks = [(e.ip, e.port, "aff-" + endpoint_hash(port, e)) for e in chain_eps]
            chains.append(Chain(name, _affinity_pick_rules(picks, proto, cfg.counters), comment=chain_comment))
        else:
            chains.append(Chain(name, pick=tuple((e.ip, e.port) for e in chain_eps), proto=proto,
                                comment=chain_comment))
    for e in used:
        if port.affinity_timeout:
            objects.append(_affinity_set("aff-" + endpoint_hash(port, e), port.affinity_timeout))
        elements.append(Element(HAIRPIN, f"{e.ip} . {e.ip}"))
    return Fragment(tuple(chains), tuple(objects), tuple(elements))


def _affinity_set(name: str, timeout: int) -> Obj:
    return Obj("set", name, f"type ipv4_addr; flags dynamic,timeout; timeout {timeout}s;", managed=False)


def _affinity_pick_rules(targets: list[tuple[str, int, str]], proto: str, counters: bool) -> tuple[str, ...]:
    """Session affinity: a known client (in a target's affinity set) goes back to its target;
    otherwise a uniform random pick (rule i takes 1/(n-i) of what reaches it, so each of n
    targets gets 1/n). Every DNAT refreshes the client in the target's set and counts."""
    def dnat(ip: str, port: int, aff: str) -> str:
        return f"update @{aff} {{ ip saddr }} " + ("counter " if counters else "") + f"dnat to {ip}:{port}"

    n = len(targets)
    rules = []
    if n > 1:  # with one target the last rule below already does it
        rules += [f"ip saddr @{t[2]} meta l4proto {proto} {dnat(*t)}" for t in targets]
    rules += [f"meta l4proto {proto} numgen random mod {n - i} == 0 {dnat(*t)}" for i, t in enumerate(targets[:-1])]
    rules.append(f"meta l4proto {proto} {dnat(*targets[-1])}")
    return tuple(rules)


def _cascade_pick_rules(targets: tuple[tuple[str, int], ...], proto: str, counters: bool) -> tuple[str, ...]:
    """A pick too large for an endpoint map's key range, as rules (1/(n-i) each, as above)."""
    count = "counter " if counters else ""
    n = len(targets)
    rules = [f"meta l4proto {proto} numgen random mod {n - i} == 0 {count}dnat to {ip}:{port}"
             for i, (ip, port) in enumerate(targets[:-1])]
    ip, port = targets[-1]
    rules.append(f"meta l4proto {proto} {count}dnat to {ip}:{port}")
    return tuple(rules)


# -- rendering ---------------------------------------------------------------------------

class RuleState:
    """The desired ruleset as fragments, the effective element of every map/set key, and
    what the kernel is known to hold (as of the last ``commit``).

    Two fragments may claim the same map key (e.g. the same external IP and port in two
    services): the smallest fragment key wins."""

    def __init__(self, cfg: RenderConfig) -> None:
        self.cfg = cfg
        self.fragments: dict[str, Fragment] = {}
        self._owners: dict[tuple[str, str], dict[str, Element]] = {}
        # What the kernel holds as of the last commit (chain name -> None, object name ->
        # its declaration), and the changes rendered since.
        self.applied: dict[str, Obj | None] = {}
        self._pending: list[tuple[str, Obj | None, bool]] = []  # (name, declaration, added)
        # Fragments as given (``fragments`` holds them with picks turned into rules and
        # endpoint map elements), and the endpoint map slot of every pick chain.
        self._given: dict[str, Fragment] = {}
        self._slots: dict[str, int] = {}  # pick chain -> slot (map slot // PICK_GROUP)
        self._slot_chains: dict[str, set[str]] = {}  # fragment key -> its pick chains with a slot
        self._free_slots: list[int] = []  # a heap: the lowest free slot first
        self._next_slot = 0
        self._maps = 0  # endpoint maps declared

    @property
    def prefix(self) -> str:
        return f"{FAMILY} {self.cfg.table}"

    def effective(self, ck: tuple[str, str]) -> Element | None:
        owners = self._owners.get(ck)
        return owners[min(owners)] if owners else None

    def elements(self) -> dict[tuple[str, str], Element]:
        return {ck: owners[min(owners)] for ck, owners in self._owners.items() if owners}

    def chains(self) -> dict[str, Chain]:
        return {c.name: c for frag in self.fragments.values() for c in frag.chains}

    def objects(self) -> dict[str, Obj]:
        return {o.name: o for frag in self.fragments.values() for o in frag.objects}

    def commit(self, full: bool = False) -> None:
        """The last script rendered was applied: the kernel now holds it."""
        if full:
            self.applied = dict.fromkeys(self.chains())
            self.applied.update(self.objects())
        else:
            for name, decl, added in self._pending:
                if added:
                    self.applied[name] = decl
                else:
                    self.applied.pop(name, None)
        self._pending.clear()

    # -- incremental -------------------------------------------------------------------
    def update(self, updates: Mapping[str, Fragment | None], render: bool = True) -> str:
        """Replace fragments (None removes one) and return the transaction that turns the
        previous ruleset into the new one ("" when nothing changed). ``render=False``: only
        record the change (a full script follows), return ""."""
        updates = self._resolve(updates)
        new_chains: dict[str, Chain] = {}
        changed_chains: dict[str, Chain] = {}
        removed_chains: dict[str, None] = {}  # ordered sets: scripts are deterministic
        new_objects: dict[str, Obj] = {}
        removed_objects: dict[str, Obj] = {}
        before: dict[tuple[str, str], Element | None] = {}

        owners_of = self._owners
        for key, new in updates.items():
            old = self.fragments.get(key)
            if old == new:
                continue
            if old is None and new is not None:
                # A new fragment (all of them at start-up): nothing to compare with.
                for c in new.chains:
                    new_chains[c.name] = c
                for o in new.objects:
                    new_objects[o.name] = o
                for e in new.elements:
                    ck = (e.container, e.key)
                    owners = owners_of.get(ck)
                    if owners is None:
                        owners_of[ck] = {key: e}
                        if ck not in before:
                            before[ck] = None
                    else:
                        if ck not in before:
                            before[ck] = owners[min(owners)] if owners else None
                        owners[key] = e
                self.fragments[key] = new
                continue
            old_c = {c.name: c for c in old.chains} if old else {}
            new_c = {c.name: c for c in new.chains} if new else {}
            for name, c in new_c.items():
                prev = old_c.get(name)
                if prev is None:
                    new_chains[name] = c
                elif prev != c:
                    changed_chains[name] = c
            removed_chains.update((n, None) for n in old_c if n not in new_c)
            old_o = {o.name: o for o in old.objects} if old else {}
            new_o = {o.name: o for o in new.objects} if new else {}
            new_objects.update((n, o) for n, o in new_o.items() if n not in old_o)
            removed_objects.update((n, o) for n, o in old_o.items() if n not in new_o)
            old_e = {(e.container, e.key): e for e in old.elements} if old else {}
            new_e = {(e.container, e.key): e for e in new.elements} if new else {}
            for ck in list(old_e) + [k for k in new_e if k not in old_e]:
                if old_e.get(ck) == new_e.get(ck):
                    continue
                if ck not in before:
                    before[ck] = self.effective(ck)
                owners = self._owners.setdefault(ck, {})
                if ck in new_e:
                    owners[key] = new_e[ck]
                else:
                    owners.pop(key, None)
                    if not owners:
                        del self._owners[ck]
            if new is None:
                self.fragments.pop(key, None)
            else:
                self.fragments[key] = new

        # A name that moved between fragments in this update is changed, not new or removed.
        for name in list(removed_chains):
            if name in new_chains:
                changed_chains[name] = new_chains.pop(name)
                del removed_chains[name]
            elif name in changed_chains:
                del removed_chains[name]
        for name in list(removed_objects):
            if name in new_objects:
                del new_objects[name]
                del removed_objects[name]

        self._pending += [(n, None, True) for n in new_chains]
        self._pending += [(n, o, True) for n, o in new_objects.items()]
        self._pending += [(n, None, False) for n in removed_chains]
        self._pending += [(n, None, False) for n in removed_objects]
        if not render:
            return ""

        p = self.prefix
        lines: list[str] = [self._add_object(o) for o in new_objects.values()]
        lines += [self._add_chain(c) for c in new_chains.values()]
        lines += [f"flush chain {p} {name}" for name in changed_chains]
        deletes: dict[str, list[str]] = {}
        adds: dict[str, list[str]] = {}
        for ck, was in before.items():
            now = self.effective(ck)
            if was == now:
                continue
            if was is not None:
                deletes.setdefault(ck[0], []).append(ck[1])
            if now is not None:
                adds.setdefault(ck[0], []).append(self._element_text(now))
        for container, keys in deletes.items():
            lines += self._element_lines("delete", container, keys)
        for c in list(new_chains.values()) + list(changed_chains.values()):
            lines += [f"add rule {p} {c.name} {r}" for r in c.rules]
        for container, texts in adds.items():
            lines += self._element_lines("add", container, texts)
        lines += [f"flush chain {p} {name}" for name in removed_chains]
        lines += [f"delete chain {p} {name}" for name in removed_chains]
        lines += [f"delete {o.kind} {p} {o.name}" for o in removed_objects.values()]
        return "\n".join(lines) + "\n" if lines else ""

    # -- full --------------------------------------------------------------------------
    def full_script(self, recreate: bool = False) -> str:
        """Everything. ``recreate``: replace the table (whatever it holds) in the same
        transaction; otherwise flush all rules and managed maps, keep affinity sets and
        counters, and delete what was applied before but is no longer desired."""
        p = self.prefix
        chains = self.chains()
        objects = self.objects()
        lines = [f'add table {p} {{ comment "kubeloop service proxy"; }}']
        if recreate:
            lines += [f"delete table {p}", f'add table {p} {{ comment "kubeloop service proxy"; }}']
        lines += [self._add_object(o) for o in objects.values()]
        lines += [self._add_chain(c) for c in chains.values()]
        if not recreate:
            lines.append(f"flush table {p}")
            lines += [f"flush {o.kind} {p} {o.name}" for o in objects.values() if o.managed and o.kind != "counter"]
            stale_chains = [n for n, d in self.applied.items() if d is None and n not in chains]
            stale_objects = [d for n, d in self.applied.items() if d is not None and n not in objects]
            # Declared first, so a stale object the kernel lost already is no error.
            lines += [f"add chain {p} {n}" for n in stale_chains]
            lines += [self._add_object(o) for o in stale_objects]
            lines += [f"delete chain {p} {n}" for n in stale_chains]
            lines += [f"delete {o.kind} {p} {o.name}" for o in stale_objects]
        for c in chains.values():
            lines += [f"add rule {p} {c.name} {r}" for r in c.rules]
        by_container: dict[str, list[str]] = {}
        text = self._element_text
        for owners in self._owners.values():
            if owners:
                el = owners[min(owners)] if len(owners) > 1 else next(iter(owners.values()))
                by_container.setdefault(el.container, []).append(text(el))
        for container, texts in by_container.items():
            lines += self._element_lines("add", container, texts)
        return "\n".join(lines) + "\n"

    # -- endpoint maps -----------------------------------------------------------------
    def _resolve(self, updates: Mapping[str, Fragment | None]) -> dict[str, Fragment | None]:
        """The updates with every pick turned into one rule plus elements of an endpoint map
        (unchanged fragments left out). A pick chain keeps its slot -- its keys -- while it
        exists, so a changed endpoint changes only its own elements."""
        out: dict[str, Fragment | None] = {}
        released: set[str] = set()
        kept: set[str] = set()
        for key, new in updates.items():
            if key in self._given and self._given[key] == new:
                continue
            if new is None:
                self._given.pop(key, None)
            else:
                self._given[key] = new
            had = self._slot_chains.pop(key, set())
            has: set[str] = set()
            if new is not None and any(c.pick for c in new.chains):
                new = self._resolve_fragment(new, has)
            released |= had - has
            kept |= has
            if has:
                self._slot_chains[key] = has
            out[key] = new
        # Freed after the whole update, so no key is reused within one transaction.
        for name in released - kept:
            heapq.heappush(self._free_slots, self._slots.pop(name))
        maps = (self._next_slot + PICK_GROUP - 1) // PICK_GROUP
        if maps > self._maps:  # maps are only added: an empty one costs nothing
            self._maps = maps
            # One map per protocol: a map typed by `tcp dport` cannot serve a UDP rule, and nft
            # 1.0.6 reads a `th dport` map back from the kernel as conflicting with the
            # rule's `meta l4proto` match.
            counter = " counter;" if self.cfg.counters else ""
            out[MAPS] = Fragment(objects=tuple(
                Obj("map", _endpoint_map(proto, i), f"typeof numgen random mod 2 : ip daddr . {proto} dport;{counter}")
                for i in range(maps) for proto in PROTOCOLS))
        return out

    def _resolve_fragment(self, frag: Fragment, slotted: set[str]) -> Fragment:
        chains: list[Chain] = []
        elements = list(frag.elements)
        for c in frag.chains:
            if not c.pick:
                chains.append(c)
                continue
            n = len(c.pick)
            if n > PICK_STRIDE:
                rules = c.rules + _cascade_pick_rules(c.pick, c.proto, self.cfg.counters)
            else:
                slot = self._slots.get(c.name)
                if slot is None:
                    if self._free_slots:
                        slot = heapq.heappop(self._free_slots)
                    else:
                        slot, self._next_slot = self._next_slot, self._next_slot + 1
                    self._slots[c.name] = slot
                slotted.add(c.name)
                emap = _endpoint_map(c.proto, slot // PICK_GROUP)
                base = slot % PICK_GROUP * PICK_STRIDE
                rules = c.rules + (f"meta l4proto {c.proto} dnat ip to numgen random mod {n} offset {base} map @{emap}",)
                elements += [Element(emap, str(base + i), f"{ip} . {port}") for i, (ip, port) in enumerate(c.pick)]
            chains.append(Chain(c.name, rules, c.hook, c.comment))
        return Fragment(tuple(chains), frag.objects, tuple(elements))

    # -- pieces ------------------------------------------------------------------------
    def _add_chain(self, c: Chain) -> str:
        body = []
        if c.hook:
            body.append(c.hook)
        if c.comment:
            body.append(f"comment {_q(c.comment)};")
        return f"add chain {self.prefix} {c.name}" + (f" {{ {' '.join(body)} }}" if body else "")

    def _add_object(self, o: Obj) -> str:
        if o.kind == "counter":
            return f"add counter {self.prefix} {o.name}"
        return f"add {o.kind} {self.prefix} {o.name} {{ {o.spec} }}"

    @staticmethod
    def _element_text(e: Element) -> str:
        text = e.key
        if e.comment:
            text += f" comment {_q(e.comment)}"
        if e.value:
            text += f" : {e.value}"
        return text

    def _element_lines(self, verb: str, container: str, texts: list[str]) -> list[str]:
        return [f"{verb} element {self.prefix} {container} {{ {', '.join(texts[i:i + _ELEMENT_CHUNK])} }}"
                for i in range(0, len(texts), _ELEMENT_CHUNK)]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (for building and rendering a large state): the
    objects built are long-lived and hold no cycles, yet each collection scans all of them
    -- 40% of the time of building 10,000 services. Refcounting still frees memory."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def delete_table_script(table: str = TABLE) -> str:
    """Remove the table whatever it holds (``add`` first, so a missing table is no error)."""
    return f"add table {FAMILY} {table}\ndelete table {FAMILY} {table}\n"
