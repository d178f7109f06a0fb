"""The payload log on S3 (``payloads.url``): two servers of different homes (two hosts) upload their
completed segments to one prefix, and an export and a drift report on a third home read the rows
of both. A server
whose S3 endpoint is down keeps its segments locally, counts the failed uploads and its backlog; started again
with S3 up, it uploads them. Retention deletes the bucket's segments by the local rules.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import obstore
import pyarrow as pa
import pyarrow.parquet as pq

from tests.e2e.conftest import (
    IRIS_ROWS,
    Server,
    free_port,
    iris_request,
    register,
    run_cli_in_process,
    running_server,
)
from tests.e2e.s3.conftest import BUCKET
from tests.s3 import SeaweedFS

REQUESTS = {"a": 3, "b": 2}


def metric(server: Server, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", httpx.get(f"{server.url}/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 60  # bounds a broken server; not a timing assertion
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def listed(seaweed: SeaweedFS, prefix: str) -> list[str]:
    return [m["path"] for m in obstore.list(seaweed.client(BUCKET), prefix).collect()]


def local_segments(home: Path) -> list[Path]:
    return sorted((home / "payloads" / "iris").glob("rows-*.parquet"))


def test_two_servers_log_to_one_prefix_and_a_failed_upload_waits_locally(
    tmp_path: Path, seaweed: SeaweedFS, s3_url: str, model_files: dict[str, Path]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    homes = {name: tmp_path / name for name in ("a", "b", "c")}
    reference = tmp_path / "reference.parquet"
    pq.write_table(pa.table({f"col {i}": [row[i] for row in IRIS_ROWS * 10] for i in range(4)}), reference)
    for home in homes.values():
        register(home, model_files["iris"], "iris", "--reference", str(reference))
        run_cli_in_process(home, "monitor", "set", "iris", "--sample-rate", "1")
    good = {
        **seaweed.env(),
        "MODELPORT_PAYLOADS__URL": f"{s3_url}/payloads",
        "MODELPORT_PAYLOADS__FLUSH_INTERVAL_S": "0.1",
        "MODELPORT_PAYLOADS__SEGMENT_MAX_AGE_S": "0.3",
    }
    down = {**good, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}

    with running_server(homes["a"], logs, **good) as a, running_server(homes["b"], logs, **down) as b:
        for name, server in (("a", a), ("b", b)):
            for _ in range(REQUESTS[name]):
                answer = httpx.post(f"{server.url}/v2/models/iris/infer", json=iris_request())
                assert answer.status_code == 200, answer.text
        until(lambda: metric(a, "modelport_payload_segments_uploaded_total") >= 1, "a uploaded nothing")
        failed = "modelport_payload_upload_failures_total"
        until(lambda: metric(b, failed) >= 2, "b's upload was not tried again")
        assert local_segments(homes["b"]), "b's segments are kept until uploaded"
        assert metric(b, "modelport_payload_upload_backlog") >= 1
    assert not local_segments(homes["a"])
    assert local_segments(homes["b"])  # its last upload, at shutdown, failed too

    with running_server(homes["b"], logs, **good):
        until(lambda: not local_segments(homes["b"]), "b's waiting segments were not uploaded")
    prefix = s3_url.removeprefix(f"s3://{BUCKET}/")
    keys = listed(seaweed, f"{prefix}/payloads/")
    assert keys and all(k.startswith(f"{prefix}/payloads/iris/rows-") for k in keys)

    out = tmp_path / "all.jsonl"
    run_cli_in_process(homes["c"], "payloads", "export", "iris", "--format", "jsonl", "--out", out, env=good)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == sum(REQUESTS.values()) * len(IRIS_ROWS)
    report = run_cli_in_process(homes["c"], "drift", "report", "iris", "--json", env=good)
    assert json.loads(report.stdout)["live_rows"] == len(rows)

    too_small = {
        "MODELPORT_PAYLOADS__RETENTION_MAX_BYTES": "1",
        "MODELPORT_PAYLOADS__RETENTION_INTERVAL_S": "0.1",
    }
    with running_server(homes["c"], logs, **good, **too_small):  # retention applies to the bucket too
        until(lambda: not listed(seaweed, f"{prefix}/payloads/"), "retention left segments in the bucket")
