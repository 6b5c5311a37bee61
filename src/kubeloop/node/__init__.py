"""kubeloop.node"""
