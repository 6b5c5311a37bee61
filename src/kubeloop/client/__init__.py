"""kubeloop.client"""
