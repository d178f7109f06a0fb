# modelport's server image: one `modelport serve` per container (docs/deploy.md).
#   docker build -t modelport .                      # extras all,postgres,s3: CPU-only wheels
#   docker build --build-arg EXTRAS=sklearn,postgres,s3 -t modelport .   # fewer frameworks
# The base image is pinned by tag in both stages: the venv built in the first runs on the second's Python.

FROM python:3.11.13-slim-bookworm AS build
ARG EXTRAS=all,postgres,s3
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The wheel first, then the wheel with its extras into a venv: the image holds no source tree.
# `all` resolves xgboost to xgboost-cpu on Linux, so no NVIDIA library is installed.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install "$(ls /wheels/modelport-*.whl)[${EXTRAS}]"

FROM python:3.11.13-slim-bookworm
RUN groupadd --system --gid 10001 modelport \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/modelport --create-home modelport
COPY --from=build /opt/venv /opt/venv
# Listening beyond loopback, `serve` refuses to start without a management token: pass
# MODELPORT_AUTH__TOKEN_FILE (a mounted secret) or MODELPORT_AUTH__TOKEN at run time, never here.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/modelport \
    MODELPORT_HOME=/var/lib/modelport \
    MODELPORT_HOST=0.0.0.0 \
    MODELPORT_PORT=8080 \
    MODELPORT_GRPC__PORT=8081
USER 10001:10001
WORKDIR /var/lib/modelport
EXPOSE 8080 8081
# Liveness only: readiness (/v2/health/ready, 503 until every served version is loaded) is the
# orchestrator's probe, see deploy/kubernetes/deployment.yaml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MODELPORT_PORT', '8080') + '/v2/health/live', timeout=4)"]
ENTRYPOINT ["modelport"]
CMD ["serve"]
