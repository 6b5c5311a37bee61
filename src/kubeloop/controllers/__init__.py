"""kubeloop.controllers"""
