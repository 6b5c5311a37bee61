"""kubeloop.cluster"""
