"""kubeloop.api"""
