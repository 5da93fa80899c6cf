# The Cloud Expo app node image used by infra/compose.yaml.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY cloudexpo cloudexpo
COPY booths booths
COPY streaming streaming
COPY web web
# gcc builds the forwarder's compiled send loop (streaming/_fanout.c), then goes
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir . \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
EXPOSE 8000
CMD ["cloudexpo", "serve"]
