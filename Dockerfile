# llmgate: one stateless gateway process. Mount your config at /config/config.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LLMGATE_CONFIG=/config/config.yaml \
    LLMGATE_DATABASE_URL=sqlite:////data/llmgate.db

RUN useradd --create-home --uid 10001 llmgate
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY configs ./configs
RUN pip install --upgrade pip && pip install . \
    && mkdir -p /config /data && cp configs/default.yaml /config/config.yaml \
    && chown -R llmgate /config /data

USER llmgate
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:4000/health').status != 200)"
CMD ["llmgate", "serve", "--host", "0.0.0.0", "--port", "4000"]
