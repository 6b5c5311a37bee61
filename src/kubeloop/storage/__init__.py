"""kubeloop.storage"""
