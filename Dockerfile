# syntax=docker/dockerfile:1
# Ledgerline's application image: web (gunicorn), Celery worker and beat, and the
# one-shot `flask --app app init`.  Python only at run time: the contracts ship as the
# committed, precompiled artifacts (contracts/build), so neither Node nor solc is here.
#
#   docker build -t ledgerline/app:0.1.0 .                        # the app (target app)
#   docker build --target dev-servers -t ledgerline/dev-servers .  # + SMTP/SMPP test servers
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: install the package and its dependencies into a venv ---------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY app ./app
RUN pip install .

# -- app: the venv, the contract artifacts, a non-root user --------------------------------
FROM ${PYTHON_IMAGE} AS app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEDGERLINE_INSTANCE=/var/lib/ledgerline \
    LEDGERLINE_CONTRACTS_DIR=/opt/ledgerline/contracts
# The instance folder holds the deployment file and, in keystore/, the V3 key files; the
# compose file mounts named volumes there, which start with this ownership.  The home
# folder stays writable when web and workers mount the instance read-only.
RUN groupadd --system --gid 10001 ledgerline \
 && useradd --system --uid 10001 --gid ledgerline --create-home --home-dir /home/ledgerline \
        --shell /usr/sbin/nologin ledgerline \
 && mkdir -p /var/lib/ledgerline/keystore \
 && chown -R ledgerline:ledgerline /var/lib/ledgerline \
 && chmod 0700 /var/lib/ledgerline/keystore
COPY --from=build /opt/venv /opt/venv
COPY contracts /opt/ledgerline/contracts
USER ledgerline
WORKDIR /var/lib/ledgerline
EXPOSE 8000
CMD ["gunicorn", "--bind=0.0.0.0:8000", "--worker-tmp-dir=/dev/shm", "app:create_app()"]

# -- dev-servers: the app image plus the SMTP sink and the test SMSC (compose profile dev) --
FROM app AS dev-servers
USER root
# The same packages (and floors) as the `test` extra of pyproject.toml.
RUN pip install --no-cache-dir "aiosmtpd>=1.4" "smpp34>=1.5" "cryptography>=42"
COPY tests/dispatch_servers.py /opt/ledgerline/tests/dispatch_servers.py
RUN mkdir -p /tmp/ledgerline-dev && chown ledgerline:ledgerline /tmp/ledgerline-dev
USER ledgerline
WORKDIR /opt/ledgerline
