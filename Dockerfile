# One image for every Python service of the stack: the three exporters, the receiver, the simulator
# and the fakes. docker-compose.yml runs it with a different `smmc ...` command per service.
#
# The project is installed in editable mode from its source tree in the image, so the data files the
# code reads beside its modules (catalogs, scenarios, the Cloudera example schedule, the OpenGate
# datastream ids) are exactly the repository's.
FROM python:3.12.8-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/smmc/venv/bin:$PATH
# Directories that compose mounts named volumes on: an empty named volume takes the ownership of
# the image's directory, so the services (uid 10001) can write to them.
RUN groupadd --system --gid 10001 smmc \
 && useradd --system --uid 10001 --gid smmc --home-dir /var/lib/smmc --create-home smmc \
 && mkdir -p /data /var/lib/smmc/state /var/lib/smmc/receiver /run/smmc-secrets \
 && chown smmc:smmc /data /var/lib/smmc/state /var/lib/smmc/receiver
WORKDIR /opt/smmc/src
COPY pyproject.toml README.md ./
COPY exporters ./exporters
COPY receiver ./receiver
COPY smmc ./smmc
COPY simulator ./simulator
RUN python -m venv /opt/smmc/venv \
 && pip install --upgrade pip \
 && pip install -e . \
 && smmc --help >/dev/null
# The alert -> action map ships in the image; compose mounts the repository's copy over it.
COPY alertmanager/actions.yml /etc/smmc/actions.yml
WORKDIR /var/lib/smmc
USER smmc
ENTRYPOINT ["smmc"]
CMD ["--help"]
