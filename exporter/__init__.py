"""The stackwatch exporter: host, service, Docker and k3s metrics for Prometheus."""
