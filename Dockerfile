# failsoft gateway image: `docker build -t failsoft .` (see docs/deploy.md).
#
# Two stages: the first builds a virtual environment with failsoft and its extras (by default
# the PostgreSQL driver; asyncpg, uvloop and httptools come as wheels, so no compiler is
# needed, but a build stage keeps pip, setuptools and their caches out of the image); the
# second copies only that environment onto a fresh slim Python.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Optional extras to install: `--build-arg EXTRAS=postgres,otel` adds OpenTelemetry tracing.
ARG EXTRAS=postgres
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Compiled at build time: the running container's root file system is read-only.
RUN python -m venv /opt/failsoft \
    && /opt/failsoft/bin/pip install --upgrade pip \
    && /opt/failsoft/bin/pip install ".[${EXTRAS}]" \
    && /opt/failsoft/bin/python -m compileall -q /opt/failsoft/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="failsoft" \
      org.opencontainers.image.description="An LLM gateway that keeps answering when providers fail" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid/gid: Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 failsoft \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /var/lib/failsoft --shell /usr/sbin/nologin failsoft \
    && mkdir -p /etc/failsoft /var/lib/failsoft \
    && chown 10001:10001 /var/lib/failsoft
COPY --from=build /opt/failsoft /opt/failsoft
ENV PATH=/opt/failsoft/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The working directory is where failsoft keeps what it must write (the default SQLite
# store, the PostgreSQL store's spool): mount a volume here when the root fs is read-only.
WORKDIR /var/lib/failsoft
USER 10001:10001
EXPOSE 8080
# uvicorn drains on SIGTERM: open requests and streams finish, /readyz answers 503 meanwhile.
STOPSIGNAL SIGTERM
# Liveness only (/healthz): whether to route to the process is /readyz, for the load balancer.
# Python's standard library, as the slim image has no curl or wget. Serving on another port
# (--port), override the health check with it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
# The config is mounted, never baked in: it names providers and reads their keys from the
# environment (${ANTHROPIC_API_KEY}, ...).
CMD ["failsoft", "serve", "--config", "/etc/failsoft/failsoft.yaml", "--host", "0.0.0.0", "--port", "8080"]
