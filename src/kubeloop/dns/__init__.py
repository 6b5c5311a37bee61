"""kubeloop.dns: the cluster DNS server (Kubernetes DNS-Based Service Discovery 1.1.0).

records.py   which records exist (pure), corefile.py the ConfigMap's Corefile,
wire.py      prepared wire-format answers, server.py listeners and the query fast path,
resolver.py  the slow path (hosts, kubernetes, forward + cache), forward.py upstreams,
service.py   ClusterDNS: informers -> records -> answers, live Corefile edits,
bench.py     a small load generator (bench_qps) and comparison servers for loopback measurements,
testing.py   test doubles: a toy upstream resolver on 127.0.0.1, dig/query helpers.
"""

from .service import ClusterDNS

__all__ = ["ClusterDNS"]
