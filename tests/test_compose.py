"""Lint of docker-compose.yml, the Dockerfile and .env.example (no Docker needed), and
`docker compose config` where the Compose plugin is installed."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
PROJECT_IMAGE = re.compile(r"^smmc-monitoring:")
# a pinned image: name:tag where the tag is a version (digits and dots, optionally a suffix), or a digest
PINNED = re.compile(
    r"^[\w./-]+(:v?\d+(\.\d+){1,3}[\w.-]*)(@sha256:[0-9a-f]{64})?$"  # a version tag (and a digest)
    r"|^[\w./-]+@sha256:[0-9a-f]{64}$"  # a digest alone
)
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation (`${V}`, `${V:-default}`, `${V-default}`, `$$`) on every string."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1) or match.group(3)
            default = match.group(2)
            return env.get(name) or (default if default is not None else "")

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return interpolate(raw, env or {})


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def project_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services(compose).items() if PROJECT_IMAGE.match(s.get("image", ""))}


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        image = service.get("image")
        assert image, f"{name}: no image"
        if PROJECT_IMAGE.match(image):
            assert service["build"]["dockerfile"] == "Dockerfile", name
            continue
        assert ":latest" not in image and PINNED.match(image), f"{name}: image {image!r} is not pinned"


def test_python_services_share_one_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    ours = project_services(compose)
    assert {s["image"] for s in ours.values()} == {"smmc-monitoring:0.1.0"}
    expected = {
        "simulator",
        "fake-opengate",
        "fake-jira",
        "fake-smmeplus",
        "fake-cloudera",
        "smmeplus-exporter",
        "opengate-exporter",
        "cloudera-exporter",
        "receiver",
    }
    assert expected <= set(ours)
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    base_images = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.M)
    assert base_images and all(PINNED.match(image) for image in base_images), base_images
    assert re.search(r"^USER\s+(?!root|0\b)\S+", dockerfile, flags=re.M), "the image must not run as root"
    assert re.search(r'^ENTRYPOINT \["smmc"\]', dockerfile, flags=re.M)


def test_the_image_holds_every_data_file_the_code_reads() -> None:
    """Data files beside the modules (catalogs, scenarios, schedules, datastream ids) reach the image:
    their directories are copied, not ignored, and the editable install reads them in place."""
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY\s+(\S+)\s", dockerfile, flags=re.M))
    assert {"exporters", "receiver", "smmc", "simulator"} <= copied
    assert "pip install -e ." in dockerfile
    ignored = [
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    ]
    data = [
        p.relative_to(REPO)
        for top in ("exporters", "receiver", "smmc", "simulator")
        for p in (REPO / top).rglob("*")
        if p.suffix in (".yml", ".yaml", ".json", ".csv") and "__pycache__" not in p.parts
    ]
    assert any(p.parts[:2] == ("simulator", "scenarios") for p in data)
    for path in data:
        for pattern in ignored:
            assert not path.match(pattern) and pattern not in path.parts, f"{path} is excluded by {pattern}"


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if service.get("restart") == "no":  # one-shot (secrets-init)
            continue
        check = service.get("healthcheck")
        assert check, f"{name}: no health check"
        if check.get("disable"):
            # only an image with nothing to run a probe with (distroless); Prometheus scrapes it instead
            assert not IMAGE_TOOLS[service["image"].split(":")[0]], f"{name}: health check disabled"
            prometheus = (REPO / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
            assert f'"{name}:' in prometheus, f"{name}: neither a health check nor a scrape target"
            continue
        assert check.get("test"), f"{name}: no health check"


def test_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})

    def named_volume_at(service: str, target: str) -> str:
        for mount in services(compose)[service].get("volumes") or []:
            source, _, rest = mount.partition(":")
            if rest.split(":")[0] == target:
                assert "/" not in source, f"{service}:{target} is a bind mount, not a named volume"
                assert source in declared, f"{service}: volume {source} not declared"
                return source
        raise AssertionError(f"{service}: nothing mounted at {target}")

    assert named_volume_at("prometheus", "/prometheus")
    assert named_volume_at("grafana", "/var/lib/grafana")
    assert named_volume_at("receiver", "/var/lib/smmc/receiver")
    assert named_volume_at("alertmanager", "/alertmanager")
    receiver_cmd = " ".join(services(compose)["receiver"]["command"])
    assert "sqlite:////var/lib/smmc/receiver/" in receiver_cmd, "the receiver's database is on its volume"
    assert "--storage.tsdb.path=/prometheus" in services(compose)["prometheus"]["command"]


def test_bind_mounts_point_at_files_in_the_repository(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"


def test_azure_exporter_is_an_optional_profile_and_everything_else_starts_by_default(
    compose: dict[str, Any],
) -> None:
    with_profiles = {n: s["profiles"] for n, s in services(compose).items() if s.get("profiles")}
    assert with_profiles == {"azure-metrics-exporter": ["azure"]}


def test_no_default_credentials(compose: dict[str, Any]) -> None:
    secret_names = re.compile(r"(PASSWORD|TOKEN|SECRET|API_KEY)$")
    for name, service in services(compose).items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use the mapping form for environment"
        for key, value in env.items():
            if secret_names.search(key):
                assert value in ("", None), f"{name}: {key} has a default value in the compose file"
    grafana_env = services(compose)["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana_env
    assert grafana_env["GF_SECURITY_ADMIN_PASSWORD__FILE"].startswith("/run/smmc-secrets/")
    assert "--token-file" in services(compose)["receiver"]["command"]
    # the token file the receiver reads is the one Alertmanager's webhooks send
    receiver_cmd = services(compose)["receiver"]["command"]
    token_path = receiver_cmd[receiver_cmd.index("--token-file") + 1]
    am_config = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    am_files = {
        hook["http_config"]["authorization"]["credentials_file"]
        for receiver in am_config["receivers"]
        for hook in receiver.get("webhook_configs") or []
        if (hook.get("http_config") or {}).get("authorization")
    }
    assert am_files, "Alertmanager sends no bearer token to the receiver"
    mounts = dict(m.split(":")[:2][::-1] for m in services(compose)["alertmanager"]["volumes"])
    for path in am_files:
        directory, name = path.rsplit("/", 1)
        assert mounts.get(directory) == "secrets", f"{directory} is not the secrets volume in alertmanager"
        assert token_path == f"/run/smmc-secrets/{name}", (token_path, path)
    # values given in .env reach the secrets-init service
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert raw["services"]["secrets-init"]["environment"]["SMMC_RECEIVER_TOKEN"] == "${SMMC_RECEIVER_TOKEN:-}"
    env_with = load_compose({"SMMC_RECEIVER_TOKEN": "from-env-file"})
    assert env_with["services"]["secrets-init"]["environment"]["SMMC_RECEIVER_TOKEN"] == "from-env-file"


def test_secrets_init_generates_once_and_prefers_env_values(tmp_path: Path) -> None:
    """Run secrets-init's own script with /bin/sh on a temporary directory."""
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    script = raw["services"]["secrets-init"]["command"][0].replace("$$", "$")
    script = script.replace("/run/smmc-secrets", str(tmp_path))
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").symlink_to(sys.executable)
    env = {"PATH": f"{shim}:/usr/bin:/bin"}
    first = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=True)
    token = (tmp_path / "receiver-token").read_text()
    password = (tmp_path / "grafana_admin_password").read_text()
    assert len(token) >= 24 and len(password) >= 24 and token != password
    assert token in first.stdout and password in first.stdout
    second = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=True)
    assert second.stdout == "", "a generated secret is printed only once"
    assert (tmp_path / "receiver-token").read_text() == token
    third = subprocess.run(
        ["/bin/sh", "-c", script],
        env={**env, "SMMC_RECEIVER_TOKEN": "chosen-by-the-user"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / "receiver-token").read_text() == "chosen-by-the-user"
    assert "chosen-by-the-user" not in third.stdout


# What each image can run in a health check: ours (python), busybox-based Prometheus and Alertmanager,
# Alpine-based Grafana (busybox wget); webdevops' exporter is distroless (the binary alone).
IMAGE_TOOLS = {
    "smmc-monitoring": {"python"},
    "prom/prometheus": {"wget"},
    "prom/alertmanager": {"wget"},
    "grafana/grafana": {"wget"},
    "webdevops/azure-metrics-exporter": set(),
}


def test_health_checks_run_commands_their_images_have(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        check = service.get("healthcheck")
        if not check:
            continue
        tools = IMAGE_TOOLS[service["image"].split(":")[0]]
        if check.get("disable"):
            assert not tools, f"{name}: its image could run a health check ({tools})"
            continue
        kind, command = check["test"][0], check["test"][1]
        assert kind == "CMD" and command in tools, f"{name}: {check['test']} cannot run in {service['image']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


def test_simulator_off_idles_healthy_so_the_stack_still_starts(tmp_path: Path) -> None:
    """With SMMC_SIMULATOR=off (real sources) the services waiting for a healthy simulator must start:
    the simulator idles until stopped and its health check passes without a simulated day."""
    service = load_compose({"SMMC_SIMULATOR": "off"})["services"]["simulator"]
    command = [w.replace("/data", str(tmp_path)) for w in service["command"]]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", **service["environment"]}
    check = [w.replace("/data", str(tmp_path)) for w in service["healthcheck"]["test"][1:]]
    check[0] = sys.executable
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("smmc")), *command], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        # its one line comes after its signal handlers are set: from then on SIGTERM is a clean stop (a
        # fixed sleep sent SIGTERM to a process still importing when the machine was busy: exit -15)
        assert proc.stdout is not None
        assert "nothing to do" in proc.stdout.readline()
        assert subprocess.run(check, env=env, timeout=60).returncode == 0
        assert subprocess.run(check, env={**env, "SMMC_SIMULATOR": "on"}, timeout=60).returncode == 1
        assert proc.poll() is None, "the simulator exited: services depending on it would never start"
        assert not list(tmp_path.iterdir()), "off: the simulator writes nothing"
    finally:
        code = _stop(proc)
    assert code == 0


def test_fake_opengate_starts_with_the_generated_key_even_without_a_simulated_fleet(tmp_path: Path) -> None:
    """fake-opengate's entrypoint, run with /bin/sh: the key secrets-init wrote is the one it accepts; with
    no simulated fleet (SMMC_SIMULATOR=off) it serves its default fleet instead of failing in a loop."""
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["fake-opengate"]
    port = _free_port()
    secrets, data = tmp_path / "secrets", tmp_path / "data"
    secrets.mkdir()
    data.mkdir()
    (secrets / "opengate_api_key").write_text("generated-key")

    def local(word: str) -> str:
        word = word.replace("$$", "$").replace("/run/smmc-secrets", str(secrets)).replace("/data", str(data))
        return word.replace("0.0.0.0:9830", f"127.0.0.1:{port}")

    argv = [local(w) for w in raw["entrypoint"] + raw["command"]]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/north/v80/search/devices",
            data=b"{}",
            headers={"X-ApiKey": "generated-key", "Content-Type": "application/json"},
        )
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with urllib.request.urlopen(login, timeout=10) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "fake-opengate never answered"
                time.sleep(0.5)
    finally:
        _stop(proc)


def test_published_ports_bind_to_a_configurable_address(compose: dict[str, Any]) -> None:
    published = {}
    for name, service in services(compose).items():
        for port in service.get("ports") or []:
            address, host_port, _container_port = port.split(":")
            assert address == "127.0.0.1", f"{name}: {port} must default to loopback"
            published[name] = int(host_port)
    assert published == {"grafana": 3000, "prometheus": 9090, "alertmanager": 9093, "receiver": 9820}
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    for name in published:
        assert all(p.startswith("${SMMC_BIND_ADDRESS:-127.0.0.1}:") for p in raw["services"][name]["ports"])


def test_service_commands_use_options_the_commands_accept(compose: dict[str, Any]) -> None:
    """Every `smmc ...` command line in the compose file names options that `smmc ... --help` lists."""
    smmc = Path(sys.executable).with_name("smmc")
    for name, service in project_services(compose).items():
        command = service.get("command")
        if service.get("entrypoint") or not command:
            continue
        # the command words are the leading words before the first option
        head: list[str] = []
        for word in command:
            if word.startswith("-"):
                break
            head.append(word)
        assert head, name
        result = subprocess.run([str(smmc), *head, "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{name}: smmc {' '.join(head)} --help failed: {result.stderr}"
        for option in (w.split("=")[0] for w in command if w.startswith("--")):
            assert option in result.stdout, f"{name}: smmc {' '.join(head)} has no option {option}"


def test_env_example_names_every_variable_and_holds_no_secret() -> None:
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    assigned = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.lstrip().startswith("#")
    )
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text(encoding="utf-8")))
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, flags=re.M))
    assert used <= documented, f"variables the compose file reads but .env.example omits: {used - documented}"
    for key, value in assigned.items():
        if re.search(r"(PASSWORD|TOKEN|SECRET|API_KEY)$", key):
            assert value.strip() == "", f".env.example sets {key}: no default credentials"
    gitignore = (REPO / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in gitignore, "the user's .env must never be committed"


def _compose_plugin() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    return [docker, "compose"] if probe.returncode == 0 else None


@pytest.mark.skipif(
    _compose_plugin() is None,
    reason="`docker compose` (the Compose v2 plugin) is not installed here; the lint tests above check the"
    " file without it",
)
def test_docker_compose_config_validates() -> None:
    command = _compose_plugin()
    assert command is not None
    for profile in ([], ["--profile", "azure"]):
        result = subprocess.run(
            [*command, "-f", str(COMPOSE), *profile, "config", "--quiet"],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
