"""Programs behind the built-in image catalog (see kubeloop.node.images)."""
