"""kubeloop.apiserver"""
