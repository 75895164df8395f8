# Bwenge server image: slim, non-root, with a health check.
#   docker build -t bwenge .
#   docker run -p 8000:8000 -v bwenge-data:/var/lib/bwenge bwenge
# The scale-out topology (PostgreSQL, Redis, Chroma, API and ingestion workers):
# deploy/compose.yaml and docs/deployment.md.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bwenge ./bwenge
COPY plugins ./plugins
# Extras a scale-out deployment uses (PostgreSQL driver, Redis queue, tracing);
# unknown extras only warn, so the same line works as extras are added.
RUN python -m venv /opt/bwenge \
 && /opt/bwenge/bin/pip install ".[postgres,redis,otel]"

FROM python:3.11-slim
ENV PATH=/opt/bwenge/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BWENGE_ENV=production \
    BWENGE_CONFIG_DIR=/etc/bwenge \
    BWENGE_DATA_DIR=/var/lib/bwenge \
    BWENGE_SERVER__HOST=0.0.0.0 \
    BWENGE_LOG_FORMAT=json \
    ANONYMIZED_TELEMETRY=False
RUN groupadd --system --gid 10001 bwenge \
 && useradd --system --uid 10001 --gid bwenge --home-dir /var/lib/bwenge --shell /usr/sbin/nologin bwenge \
 && mkdir -p /etc/bwenge /var/lib/bwenge \
 && chown bwenge:bwenge /var/lib/bwenge
COPY --from=build /opt/bwenge /opt/bwenge
COPY config/settings.toml /etc/bwenge/settings.toml
USER bwenge
WORKDIR /var/lib/bwenge
VOLUME ["/var/lib/bwenge"]
EXPOSE 8000
# Liveness only (GET /health); load balancers should use /health/ready.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["bwenge", "serve"]
