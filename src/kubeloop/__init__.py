"""kubeloop: a Kubernetes cluster for one Linux machine, with service networking done for real."""

__version__ = "0.1.0"
