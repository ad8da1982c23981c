"""The deployment examples, checked by parsing them (docker and systemd do not run here)."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def replicas() -> dict[str, dict[str, Any]]:
    """The long-running postdesk services: built from our image, running the default command."""
    return {
        name: svc
        for name, svc in services().items()
        if "build" in svc and svc.get("command") in (None, ["serve"], "serve")
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


# --- compose.yaml -------------------------------------------------------------------------


def test_compose_has_postgres_migrate_two_replicas_and_a_mail_catcher() -> None:
    svc = services()
    assert svc["postgres"]["image"].startswith("postgres:16")
    assert any("/var/lib/postgresql/data" in v for v in svc["postgres"]["volumes"])
    assert "postgres-data" in compose()["volumes"]
    assert svc["mailpit"]["image"].startswith("axllent/mailpit")
    assert len(replicas()) == 2


def test_replicas_share_key_database_and_relay() -> None:
    envs = [svc["environment"] for svc in replicas().values()]
    for name in ("POSTDESK_SECRET_KEY", "POSTDESK_DATABASE_URL", "POSTDESK_RELAY_URL"):
        values = {env.get(name) for env in envs}
        assert len(values) == 1 and None not in values, f"{name} differs: {values}"
    assert envs[0]["POSTDESK_RELAY_URL"] == "smtp://mailpit:1025"
    assert envs[0]["POSTDESK_DATABASE_URL"].startswith("postgresql://")
    assert envs[0]["POSTDESK_DATABASE_URL"].split("@")[1].startswith("postgres:")


def test_replicas_share_one_data_volume_and_publish_distinct_ports() -> None:
    mounts = [set(svc["volumes"]) for svc in replicas().values()]
    assert mounts[0] == mounts[1] and any(":/var/lib/postdesk" in m for m in mounts[0])
    ports = [p.rsplit(":", 2)[-2] for svc in replicas().values() for p in svc["ports"]]
    assert len(ports) == len(set(ports)) == 2


def test_migrate_runs_once_and_replicas_wait_for_it() -> None:
    migrate = services()["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, svc in replicas().items():
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert "db" not in (svc.get("command") or []), name


def test_postgres_has_a_healthcheck_and_replicas_keep_the_image_one() -> None:
    check = services()["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in " ".join(check)
    for name, svc in replicas().items():
        assert not svc.get("healthcheck", {}).get("disable"), name
    assert any(i == "HEALTHCHECK" for i, _ in dockerfile_instructions())


# --- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_is_slim_and_installs_postgres_extra() -> None:
    steps = dockerfile_instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert any(i == "RUN" and "pip install '.[postgres]'" in a for i, a in steps)
    assert ("EXPOSE", "2525") in steps


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [a for i, a in dockerfile_instructions() if i == "USER"]
    assert users, "no USER instruction"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # The user must exist: it is created in a RUN before the USER line.
    steps = dockerfile_instructions()
    user_at = steps.index(("USER", users[-1]))
    assert any(i == "RUN" and "useradd" in a and user in a for i, a in steps[:user_at])


def test_healthcheck_probes_the_smtp_port() -> None:
    [check] = [a for i, a in dockerfile_instructions() if i == "HEALTHCHECK"]
    command = exec_form(check.split("CMD", 1)[1].strip())
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<healthcheck>", "exec")  # a valid one-liner
    assert "POSTDESK_SMTP_PORT" in command[2] and "220" in command[2]


def test_entrypoint_serves_and_never_migrates() -> None:
    steps = dict(dockerfile_instructions())
    start = exec_form(steps["ENTRYPOINT"]) + exec_form(steps["CMD"])
    assert start == ["postdesk", "serve"]
    assert "upgrade" not in " ".join(start)


# --- systemd unit -------------------------------------------------------------------------


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((DEPLOY / "postdesk.service").read_text())
    return parser


def test_systemd_unit_serves_with_restart_on_failure() -> None:
    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/postdesk") and argv[1:] == ["serve"]
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("root", "0")


@pytest.mark.parametrize(
    ("option", "value"),
    [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes")],
)
def test_systemd_unit_is_hardened(option: str, value: str) -> None:
    assert unit()["Service"][option] == value


def test_systemd_unit_may_write_only_its_data_dir() -> None:
    service = unit()["Service"]
    assert service["ReadWritePaths"].split() == ["/var/lib/postdesk"]
    assert (
        "Environment=POSTDESK_DATA_DIR=/var/lib/postdesk"
        in (DEPLOY / "postdesk.service").read_text()
    )


# --- Postfix examples ---------------------------------------------------------------------


def test_postfix_transport_routes_support_to_postdesk() -> None:
    lines = [
        line.split()
        for line in (DEPLOY / "postfix" / "transport").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"lmtp:inet:[\w.]+:2525", nexthop) for _, nexthop in lines)
    main_cf = (DEPLOY / "postfix" / "main.cf").read_text()
    assert re.search(r"^transport_maps\s*=\s*hash:/etc/postfix/transport$", main_cf, re.M)
    assert re.search(r"^recipient_delimiter\s*=\s*\+$", main_cf, re.M)


def test_postfix_pipe_calls_ingest_and_explains_tempfail() -> None:
    text = (DEPLOY / "postfix" / "master.cf").read_text()
    service = re.search(r"^postdesk\s+unix\s.*pipe\n((?:[ \t]+.*\n)+)", text, re.M)
    assert service, "no postdesk pipe service"
    argv = service[1].split("argv=", 1)[1].split()
    assert argv[-5:] == ["ingest", "-f", "${sender}", "-r", "${recipient}"]
    assert "75" in text and "EX_TEMPFAIL" in text


# --- README -------------------------------------------------------------------------------


def deployment_section(readme: str) -> str:
    match = re.search(r"^## Deployment\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, "README.md has no '## Deployment' section"
    return match[1]


def deploy_files() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in DEPLOY.rglob("*") if p.is_file())


def test_prepared_readme_section_names_every_deploy_file() -> None:
    prepared = DEPLOY / "README-section.md"
    if not prepared.exists():
        pytest.skip("README-section.md was pasted into README.md and removed")
    text = prepared.read_text()
    missing = [f for f in deploy_files() if f"`{f}`" not in text]
    assert not missing


def test_readme_deployment_section_names_every_deploy_file() -> None:
    section = deployment_section((ROOT / "README.md").read_text())
    missing = [f for f in deploy_files() if f"`{f}`" not in section]
    assert not missing, f"README.md '## Deployment' does not name: {missing}"
