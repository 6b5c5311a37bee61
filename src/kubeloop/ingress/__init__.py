"""kubeloop.ingress: the ingress controller and its nginx data plane.

routes (pure: Ingress rules → route table), tls (pure: Secret checks, default certificate),
nginx_conf (pure: route table → nginx.conf), nginx (the supervised nginx process),
controller (informers → route table → nginx, Ingress status, the LoadBalancer Service).
"""

from .controller import IngressController, hosts_lines
from .nginx import NginxError, find_nginx

__all__ = ["IngressController", "NginxError", "find_nginx", "hosts_lines"]
