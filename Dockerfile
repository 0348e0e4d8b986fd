# One image for every chat service of docker-compose.yml: chat-server (with uvloop and its
# embedded stats sidecar) and chat-stats (the cluster-wide sidecar), on a slim Python image, as
# a non-root user. nats-py is a core dependency; the extras add uvloop and FastAPI/uvicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin chat
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chat ./chat
COPY client ./client
RUN pip install '.[speed,stats]'

USER chat
EXPOSE 7000 8080
CMD ["chat-server", "--host", "0.0.0.0"]
