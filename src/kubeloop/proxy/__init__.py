"""kubeloop.proxy"""
