# One image for every Python service of the stack: the three exporters, the receiver, the simulator
# and the fakes. docker-compose.yml runs it with a different `smmc ...` command per service.
FROM python:3.12.8-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporters ./exporters
COPY receiver ./receiver
COPY smmc ./smmc
RUN python -m venv /opt/smmc \
 && /opt/smmc/bin/pip install --upgrade pip \
 && /opt/smmc/bin/pip install .

FROM python:3.12.8-slim-bookworm
ENV PATH=/opt/smmc/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# Directories that compose mounts named volumes on: an empty named volume takes the ownership of
# the image's directory, so the services (uid 10001) can write to them.
RUN groupadd --system --gid 10001 smmc \
 && useradd --system --uid 10001 --gid smmc --home-dir /var/lib/smmc --create-home smmc \
 && mkdir -p /data /var/lib/smmc/state /var/lib/smmc/receiver /run/smmc-secrets \
 && chown smmc:smmc /data /var/lib/smmc/state /var/lib/smmc/receiver
COPY --from=build /opt/smmc /opt/smmc
# The alert -> action map and the exporters' site configuration ship in the image; compose mounts
# the repository's copies over them so an edit needs no rebuild.
COPY alertmanager/actions.yml /etc/smmc/actions.yml
WORKDIR /var/lib/smmc
USER smmc
ENTRYPOINT ["smmc"]
CMD ["--help"]
