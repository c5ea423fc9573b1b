"""The stackwatch alerter: Prometheus rules evaluated with PromQL, durable state, email."""
