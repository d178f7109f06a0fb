"""The ``modelport`` command group and its top-level commands. Settings are read here, once, and
passed down."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from modelport.cli.batch import add_batch_command
from modelport.cli.context import Context, client_token, fail_cleanly, pass_context, refuse_token_argument
from modelport.cli.drift import add_drift_commands
from modelport.cli.endpoints import add_endpoint_commands
from modelport.cli.input import parse_pairs, read_predict_input, read_signature
from modelport.cli.jobs import add_jobs_commands
from modelport.cli.models import add_model_commands
from modelport.cli.monitor import add_monitor_commands
from modelport.cli.output import print_json, print_prediction, print_version
from modelport.cli.serving_check import report_alias_effect
from modelport.core.errors import InvalidInput
from modelport.core.targets import Target

__all__ = ["main"]


@click.group()
@click.option("--home", type=click.Path(path_type=Path), help="Data directory (default ~/.modelport).")
@click.option("--server", envvar="MODELPORT_SERVER", help="Talk to a running server at this URL.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MODELPORT_TOKEN_FILE",
    help="File holding the bearer token (for --server, and for serve). Or set MODELPORT_TOKEN.",
)
@click.option("--token", hidden=True, callback=refuse_token_argument, expose_value=False)
@click.version_option(package_name="modelport")
@click.pass_context
def main(ctx: click.Context, home: Path | None, server: str | None, token_file: Path | None) -> None:
    """modelport: a model registry and inference server."""
    ctx.obj = Context({"home": home} if home else {}, server, client_token(token_file))


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8080).")
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    help="gRPC port (default 8081; 0: any free port, logged and shown in /api/v1/status).",
)
@click.option("--workers", type=click.IntRange(min=1), help="Server processes sharing the port (default 1).")
@click.option("--demo/--no-demo", default=False, help="Register the demo models if the registry is empty.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Serve from this machine's processes, or as a Ray Serve application (needs modelport[ray]).",
)
@click.option(
    "--address",
    help="Ray: the cluster to deploy on (default: RAY_ADDRESS, else a new local Ray instance).",
)
@pass_context
@fail_cleanly
def serve(
    ctx: Context,
    host: str | None,
    port: int | None,
    grpc_port: int | None,
    workers: int | None,
    demo: bool,
    log_level: str | None,
    backend: str,
    address: str | None,
) -> None:
    """Serve every model of the registry (REST: Open Inference Protocol; management API under /api)."""
    grpc = None if grpc_port is None else {"port": grpc_port}  # merged with MODELPORT_GRPC__* settings
    settings = ctx.settings(host=host, port=port, grpc=grpc, workers=workers, log_level=log_level)
    if ctx.token and not settings.auth.token:
        settings.auth.token = ctx.token
    if backend == "ray":
        from modelport.cli.ray import serve_with_ray

        serve_with_ray(settings, address, seed_demo=demo, grpc_port=grpc_port, workers=workers)
        return
    if address is not None:
        raise click.UsageError("--address is for --backend ray")
    # Imported here, not at the top: every other command works on a home or over HTTP, and must not
    # import uvicorn, grpc and FastAPI (tests/unit/test_import_weight.py).
    from modelport.server.runner import run_server

    run_server(settings, seed_demo=demo)


@main.command()
@click.argument("source", metavar="PATH_OR_URI")
@click.option("--name", required=True, help="Model name.")
@click.option("--framework", type=click.Choice(["onnx", "sklearn", "xgboost", "lightgbm"]))
@click.option("--alias", "aliases", multiple=True, help="Point this alias at the new version (repeatable).")
@click.option("--tag", "tags", multiple=True, help="k=v tag (repeatable).")
@click.option("--lineage", "lineage", multiple=True, help="k=v lineage field, e.g. run_id=42 (repeatable).")
@click.option("--description", default="", help="What this version is.")
@click.option("--signature", type=click.Path(exists=True, path_type=Path), help="Signature JSON file.")
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference data for drift: .parquet/.csv (one column per feature) or .npy.",
)
@click.option("--trust", is_flag=True, help="I trust this file (needed for pickle/joblib, which run code).")
@click.option("--sha256", help="The artifact's expected sha256 (hex): refuse any other bytes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@fail_cleanly
def register(
    ctx: Context,
    source: str,
    name: str,
    framework: str | None,
    aliases: tuple[str, ...],
    tags: tuple[str, ...],
    lineage: tuple[str, ...],
    description: str,
    signature: Path | None,
    reference: Path | None,
    trust: bool,
    sha256: str | None,
    as_json: bool,
) -> None:
    """Register a model file as a new version of NAME: a local PATH, s3://bucket/key, or an https://
    URL (http:// only to a loopback host). A download is copied into the store."""
    from modelport.control.registration import RegistrationRequest
    from modelport.monitoring.drift.reference import read_reference_file
    from modelport.registry.sources import fetch_artifact

    with tempfile.TemporaryDirectory(prefix="modelport-register-") as tmp:
        artifact = fetch_artifact(source, Path(tmp), storage=ctx.settings().storage, sha256=sha256)
        if not artifact.is_file():
            raise InvalidInput(f"no model file at {source!r}")
        request = RegistrationRequest(
            name=name,
            artifact=artifact,
            framework=framework,
            signature=read_signature(signature) if signature else None,
            aliases=aliases,
            tags=parse_pairs(tags, "--tag"),
            lineage=parse_pairs(lineage, "--lineage"),
            description=description,
            trusted=trust,
            reference_data=read_reference_file(reference) if reference else None,
        )
        with ctx.catalog() as catalog:
            print_version(catalog.register(request), as_json)


@main.group()
def alias() -> None:
    """Move or remove aliases such as production or staging."""


@alias.command("set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", type=click.IntRange(min=1))
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for a running server of this home (or --server) to load VERSION; 0: don't ask.",
)
@pass_context
@fail_cleanly
def alias_set(ctx: Context, name: str, alias_name: str, version: int, wait_s: float) -> None:
    """Point ALIAS of model NAME at VERSION.

    When a server runs for this home (or --server), say whether it now answers with VERSION; if
    VERSION cannot be loaded there, the alias keeps answering with the version it had, and the
    command fails (exit 1) saying why.
    """
    with ctx.catalog() as catalog:
        catalog.set_alias(name, alias_name, version)
    click.echo(f"{name}@{alias_name} -> {name}:{version}")
    if wait_s > 0:
        report_alias_effect(ctx, name, alias_name, version, wait_s)


@alias.command("rm")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@pass_context
@fail_cleanly
def alias_rm(ctx: Context, name: str, alias_name: str) -> None:
    """Remove ALIAS from model NAME."""
    with ctx.catalog() as catalog:
        catalog.remove_alias(name, alias_name)
    click.echo(f"removed {name}@{alias_name}")


@main.group()
def policy() -> None:
    """Choose which versions of a model the server keeps loaded."""


@policy.command("set")
@click.argument("name")
@click.argument("policy_text", metavar="POLICY")
@pass_context
@fail_cleanly
def policy_set(ctx: Context, name: str, policy_text: str) -> None:
    """Set the version policy of NAME: latest, latest:N, all or specific:1,3 (aliases always load)."""
    with ctx.catalog() as catalog:
        catalog.set_policy(name, policy_text)
    click.echo(f"{name}: version policy {policy_text}")


@main.group("config")
def serving_config() -> None:
    """How a model is served: dynamic batching, queueing, timeouts, latency target, instances, metrics."""


@serving_config.command("show")
@click.argument("name")
@pass_context
@fail_cleanly
def config_show(ctx: Context, name: str) -> None:
    """Print the serving settings of NAME as JSON."""
    with ctx.catalog() as catalog:
        print_json(catalog.get_serving(name))


@serving_config.command("set")
@click.argument("name")
@click.option(
    "--max-batch-size", type=click.IntRange(min=1), help="Most rows per model call (1: no batching)."
)
@click.option("--max-queue-delay-us", type=click.IntRange(min=0), help="Longest wait for batch mates.")
@click.option("--preferred-batch-size", "preferred", multiple=True, type=click.IntRange(min=1))
@click.option("--max-queue-size", type=click.IntRange(min=1), help="Waiting requests before 503.")
@click.option("--timeout-ms", type=click.IntRange(min=0), help="Queue deadline per request (0: none).")
@click.option("--latency-target-ms", type=click.FloatRange(min=0), help="SLO mode p99 target (0: off).")
@click.option("--instances", type=click.IntRange(min=1), help="Batches running at the same time.")
@click.option(
    "--detailed-metrics/--no-detailed-metrics",
    default=None,
    help="Per-version stage and batch-size histograms in /metrics (default: the server's only).",
)
@pass_context
@fail_cleanly
def config_set(ctx: Context, /, name: str, preferred: tuple[int, ...], **options: Any) -> None:
    """Change serving settings of NAME; running servers apply them within a second, without reloading."""
    changes = {key: value for key, value in options.items() if value is not None}
    for key in ("timeout_ms", "latency_target_ms"):
        if changes.get(key) == 0:
            changes[key] = None
    if preferred:
        changes["preferred_batch_sizes"] = list(preferred)
    with ctx.catalog() as catalog:
        print_json(catalog.update_serving(name, changes))


@main.command()
@click.argument("target")
@click.option(
    "--input", "input_file", required=True, type=click.File("rb"), help="JSON file, or - for stdin."
)
@click.option("--json", "as_json", is_flag=True, help="Print the Open Inference Protocol response.")
@pass_context
@fail_cleanly
def predict(ctx: Context, target: str, input_file: Any, as_json: bool) -> None:
    """Predict with TARGET (NAME, NAME:VERSION or NAME@ALIAS).

    The input is an Open Inference Protocol request ({"inputs": [...]}), a {name: data} object,
    or, for a model with one input, just the (nested) data list.
    """
    parsed = Target.parse(target)
    with ctx.catalog() as catalog:
        request = read_predict_input(input_file.read(), catalog.metadata(parsed))
        print_prediction(catalog.infer(parsed, request), as_json)


add_model_commands(main)
add_endpoint_commands(main)
add_monitor_commands(main)
add_drift_commands(main)
add_batch_command(main)
add_jobs_commands(main)
