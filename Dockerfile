# The Cloud Expo app node image used by infra/compose.yaml.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cloudexpo cloudexpo
COPY booths booths
COPY streaming streaming
COPY web web
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["cloudexpo", "serve"]
