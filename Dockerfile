# syntax=docker/dockerfile:1
# One image for the exporter, the Prefect server and the Prefect worker of docker-compose.yml.
#   docker build -t stackwatch .
# The exporter is the default command; compose sets the others.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/stackwatch
WORKDIR /src
COPY pyproject.toml README.md prometheus.yml ./
COPY stackwatch/ stackwatch/
COPY exporter/ exporter/
COPY alerter/ alerter/
COPY flows/ flows/
COPY rules/ rules/
RUN /opt/stackwatch/bin/pip install --no-cache-dir .

FROM python:${PYTHON_VERSION}-slim-bookworm
ARG STACKWATCH_UID=10001
LABEL org.opencontainers.image.title="stackwatch" \
      org.opencontainers.image.description="Prometheus exporter, rule-driven alerter and Prefect flows for a Docker + k3s server" \
      org.opencontainers.image.licenses="Apache-2.0"
# Non-root; the Docker socket is reached through the group compose adds (DOCKER_GID).
RUN groupadd --system --gid "${STACKWATCH_UID}" stackwatch \
 && useradd --system --uid "${STACKWATCH_UID}" --gid stackwatch \
        --create-home --home-dir /home/stackwatch --shell /usr/sbin/nologin stackwatch \
 && mkdir -p /var/lib/stackwatch /var/lib/prefect /etc/stackwatch \
 && chown stackwatch:stackwatch /var/lib/stackwatch /var/lib/prefect
COPY --from=build /opt/stackwatch /opt/stackwatch
# /app first on the path: flows mounted there by compose (new modules too) win over the
# installed copy, so adding a flow needs a worker restart, not a rebuild.
ENV PATH=/opt/stackwatch/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STACKWATCH_HOME=/app \
    STACKWATCH_CONFIG=/etc/stackwatch/stackwatch.yml
WORKDIR /app
# prefect.yaml's entrypoints are paths under STACKWATCH_HOME; rules are read by the alerter.
COPY prefect.yaml ./
COPY flows/ flows/
COPY rules/ rules/
COPY deploy/docker/stackwatch.yml /etc/stackwatch/stackwatch.yml
COPY deploy/docker/worker.sh /usr/local/bin/stackwatch-worker
COPY deploy/docker/healthcheck.py /usr/local/bin/stackwatch-healthcheck
USER stackwatch
EXPOSE 9810
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/bin/stackwatch-healthcheck", "http://127.0.0.1:9810/metrics"]
CMD ["stackwatch", "exporter"]
