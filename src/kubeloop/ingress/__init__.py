"""kubeloop.ingress"""
