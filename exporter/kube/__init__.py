"""kube-state-metrics families from raw Kubernetes API objects, one module per group of kinds."""
