# Centinela: the API, the dashboard and the replay CLI in one image.
#
#   docker build -t centinela:0.1.0 .
#   docker run --rm -p 8000:8000 -e CENTINELA_API_KEYS='soc:<key of 16+ characters>:analyze' centinela:0.1.0
#
# The service listens on 0.0.0.0 inside the container, and `python -m api` refuses to start on a
# non-loopback address without API keys, so pass CENTINELA_API_KEYS (or mount a file and set
# CENTINELA_API_KEYS_FILE). Entries are name:key:role with role analyze or admin.
# The model is warmed on data/history at build time; the snapshot lives in /var/lib/centinela.
# Mount a named volume there to keep the learned state across container restarts.
# /health reports "engine": "native" when the compiled fast path built in the first stage is loaded.

# Build stage: a C compiler for the compiled fast path (stream/native), kept out of the final image.
FROM python:3.11.13-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-compile -r requirements.txt
COPY setup.py ./
COPY stream/ stream/
RUN python setup.py --quiet build_ext --inplace && rm -rf build stream/native/*.c

FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    CENTINELA_STATE_DIR=/var/lib/centinela \
    CENTINELA_PORT=8000

RUN groupadd --system --gid 10001 centinela \
    && useradd --system --uid 10001 --gid centinela --no-create-home --home-dir /app --shell /usr/sbin/nologin centinela \
    && install -d -o centinela -g centinela -m 0700 /var/lib/centinela

WORKDIR /app

# Dependencies and the compiled modules come from the build stage.
COPY --from=build /opt/venv /opt/venv
COPY agents/ agents/
COPY api/ api/
COPY config/ config/
COPY data/ data/
COPY replay/ replay/
COPY --from=build /app/stream/ stream/
COPY pyproject.toml ./

# Warm the model now with the same code the service runs at start-up, as the user that will read it.
USER centinela
RUN python -c "from config.settings import Settings; from stream.warmstart import load_or_warm; \
detector = load_or_warm(Settings()); print('model warmed on', detector.events_seen, 'events')"

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/health' % os.environ.get('CENTINELA_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

# Needs CENTINELA_API_KEYS or CENTINELA_API_KEYS_FILE: without keys the service will not bind 0.0.0.0.
CMD ["python", "-m", "api", "--host", "0.0.0.0"]
