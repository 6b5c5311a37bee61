"""kubeloop.proxy: the service proxy (kube-proxy's nftables mode, for kubeloop's namespaces).

* ``model``: Services and EndpointSlices as small frozen records (pure);
* ``rules``: the nftables ruleset of table ``ip kubeloop``, full and incremental ``nft -f``
  scripts (pure);
* ``nft``: applies a script atomically inside a network namespace (asyncio subprocesses);
* ``proxier``: ``Proxier`` -- informers, change tracking, bounded-frequency sync, programming
  latency; node mode (a node's namespace) and host mode (the user's shell: load-balancer
  addresses spread over live nodes).

It talks to the API only through ``kubeloop.client``; it never imports the API server.
"""
