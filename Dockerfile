# One image for every chat service of docker-compose.yml: chat-server (with uvloop and its
# embedded stats sidecar) and chat-stats (the cluster-wide sidecar), on a slim Python image, as
# a non-root user. nats-py is a core dependency; the extras add uvloop and FastAPI/uvicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin chat
WORKDIR /app

# The dependencies first, read from pyproject.toml alone: this layer is rebuilt when they
# change, not on every change to the code.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extra = p['optional-dependencies']; print('\n'.join(p['dependencies'] + extra['speed'] + extra['stats']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then the code, installed without touching the dependencies again.
COPY README.md ./
COPY chat ./chat
COPY client ./client
RUN pip install --no-deps '.[speed,stats]'

USER chat
# The chat port. The default command's stats sidecar answers on 127.0.0.1:8081 inside the
# container only, for the health check: it is not exposed.
EXPOSE 7000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/health', timeout=2)"]
CMD ["chat-server", "--host", "0.0.0.0", "--port", "7000", "--stats-port", "8081"]
