"""kubeloop.dns"""
