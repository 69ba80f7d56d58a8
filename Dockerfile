# llmgate: one stateless gateway process (run several behind a load balancer at scale).
#
#   docker build -t llmgate .                                   # the gateway
#   docker build -t llmgate:monitors --build-arg EXTRAS=monitors .   # + drift monitors / eval scorers (CPU torch)
#   docker run -p 4000:4000 -v "$PWD/config.yaml:/config/config.yaml:ro" llmgate
#
# With PostgreSQL and Redis: configs/docker/compose.yaml (see the README, "Run it in Docker").
FROM python:3.11-slim

ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LLMGATE_CONFIG=/config/config.yaml \
    LLMGATE_DATABASE_URL=sqlite:////data/llmgate.db \
    LLMGATE_SPILL_DIR=/data/spill \
    HF_HUB_OFFLINE=1

RUN useradd --create-home --uid 10001 llmgate
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
# the default config only: nothing else of configs/ (least of all a store with recorded prompts) is
# needed, and .dockerignore keeps stores, .venv and .git out of the build context too
COPY configs/default.yaml ./configs/default.yaml
# Exactly the locked versions (constraints.txt, see scripts/lock.sh). The quality/monitors extras need
# torch: take the CPU build from PyTorch's CPU index first, so the extra's torch range is already met
# and pip never pulls the multi-GB CUDA build.
RUN pip install --upgrade pip \
    && if [ -n "$EXTRAS" ]; then \
         pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
         && pip install -c constraints.txt ".[$EXTRAS]"; \
       else \
         pip install -c constraints.txt .; \
       fi \
    && mkdir -p /config /data /data/spill \
    && cp configs/default.yaml /config/config.yaml \
    && chown -R llmgate /config /data

USER llmgate
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:4000/health').status != 200)"
CMD ["llmgate", "serve", "--host", "0.0.0.0", "--port", "4000"]
