# One image for the exporter, the Prefect server and the Prefect worker of docker-compose.yml.
#   docker build -t stackwatch .
# The exporter is the default command; compose sets the others. No `# syntax=` line: the
# builder's own Dockerfile frontend is used, so a build needs no registry but the base image's.
# Behind a package mirror or a proxy (docs/production.md):
#   docker build --build-arg PIP_INDEX_URL=https://mirror.example/simple \
#     --build-arg PIP_TRUSTED_HOST=mirror.example --build-arg PIP_CA_CERT="$(cat ca.pem)" \
#     --build-arg HTTPS_PROXY=http://proxy.example:3128 -t stackwatch .

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
# pip's index (a mirror), the hosts it may reach without TLS, and a CA bundle (PEM text) for a
# mirror or proxy that presents its own certificate. HTTP_PROXY, HTTPS_PROXY and NO_PROXY are
# Docker's predefined build arguments: pass them with --build-arg, they are not kept in the image.
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_TRUSTED_HOST=""
ARG PIP_CA_CERT=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/stackwatch
WORKDIR /src
# First the locked dependencies (exact versions, every file's hash: nothing to resolve), in a
# layer of their own that a change to the code does not rebuild. --no-deps: the lock holds every
# dependency, and the venv's pip would otherwise look past it for a requirement with an extra
# (prefect's httpx[http2]) and refuse the newer release it found there as unpinned.
COPY requirements/runtime.txt requirements/
RUN if [ -n "$PIP_CA_CERT" ]; then \
        printf '%s\n' "$PIP_CA_CERT" > /tmp/pip-ca.pem && export PIP_CERT=/tmp/pip-ca.pem; \
    fi \
 && if [ -z "$PIP_TRUSTED_HOST" ]; then unset PIP_TRUSTED_HOST; fi \
 && /opt/stackwatch/bin/pip install --no-cache-dir --require-hashes --no-deps \
        -r requirements/runtime.txt \
 && rm -f /tmp/pip-ca.pem
COPY pyproject.toml README.md prometheus.yml ./
COPY stackwatch/ stackwatch/
COPY exporter/ exporter/
COPY alerter/ alerter/
COPY flows/ flows/
COPY rules/ rules/
# then the project itself, built with the locked setuptools: no download, no resolution
RUN /opt/stackwatch/bin/pip install --no-cache-dir --no-deps --no-build-isolation .

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
