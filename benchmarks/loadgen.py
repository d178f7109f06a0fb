"""Closed-loop load generator for the Open Inference Protocol: N asyncio workers for T seconds.

Each worker keeps exactly one request in flight (HTTP/1.1 keep-alive connection per worker, or one
shared gRPC channel; with grpc-stream one shared stream on it), so latencies include queueing in the
server. Prints one JSON object: ok/shed/error counts, req/s, latency percentiles of the successful
requests, client CPU and, with --server-pid, the server's CPU (its process tree, from /proc) over the
measured window.

    python benchmarks/loadgen.py --url http://127.0.0.1:8080/v2/models/clf/infer \
        --protocol json --rows 100 --concurrency 64 --duration 4 --rows-file sample_rows.json
    python benchmarks/loadgen.py --url 127.0.0.1:8081 --protocol grpc --rows 1 ...
    python benchmarks/loadgen.py --url 127.0.0.1:8081 --protocol grpc-stream --rows 1 ...

Protocols: ``json`` (OIP JSON both ways), ``binary`` (binary tensor extension both ways:
Inference-Header-Content-Length, input ``binary_data_size``, ``binary_data_output: true``),
``grpc`` (``inference.GRPCInferenceService/ModelInfer``, raw input contents), ``grpc-stream`` (the
same requests on one ``ModelStreamInfer`` stream for all workers, see ``grpc_stream_calls``), ``v1``
(KServe v1 / TF Serving ``{"instances": rows}`` to ``…:predict``) and ``mlflow`` (``{"inputs": rows}`` to
``/invocations``, the model named by ``x-modelport-target: --model``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import tree_cpu_s, tree_pids

SHED = "shed"  # HTTP 503 / gRPC RESOURCE_EXHAUSTED: refused as overloaded
Outcome = str  # "ok", SHED or "error"
Call = Callable[[], Awaitable[Outcome]]


# ----------------------------------------------------------------------------- request bodies
def load_rows(path: Path, rows: int) -> np.ndarray:
    data = np.asarray(json.loads(path.read_text()), dtype=np.float32)
    if rows > len(data):
        raise SystemExit(f"{path} has only {len(data)} rows")
    return np.ascontiguousarray(data[:rows])


def json_body(x: np.ndarray, input_name: str) -> tuple[bytes, dict[str, str]]:
    body = {
        "inputs": [
            {"name": input_name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ]
    }
    return json.dumps(body, separators=(",", ":")).encode(), {"Content-Type": "application/json"}


def binary_body(x: np.ndarray, input_name: str) -> tuple[bytes, dict[str, str]]:
    raw = x.astype("<f4").tobytes()
    header = {
        "inputs": [
            {
                "name": input_name,
                "shape": list(x.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return head + raw, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head)),
    }


def rows_body(key: str, headers: dict[str, str]) -> Callable[[np.ndarray, str], tuple[bytes, dict[str, str]]]:
    """A body of the rows as one JSON list under ``key`` (the v1 and MLflow row formats)."""

    def body(x: np.ndarray, input_name: str) -> tuple[bytes, dict[str, str]]:
        encoded = json.dumps({key: x.tolist()}, separators=(",", ":")).encode()
        return encoded, {"Content-Type": "application/json", **headers}

    return body


# ----------------------------------------------------------------------------- HTTP/1.1 client
class HttpConnection:
    """A minimal keep-alive HTTP/1.1 client for one pre-built request (Content-Length or chunked)."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self._host, self._port, self._request = host, port, request
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def call(self) -> tuple[int, dict[str, str], bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        try:
            self._writer.write(self._request)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status, headers = _parse_head(head)
            body = await self._read_body(headers)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        assert self._reader is not None
        if "content-length" in headers:
            return await self._reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self._reader.readexactly(size))
                await self._reader.readexactly(2)
            await self._reader.readuntil(b"\r\n")
            return b"".join(parts)
        return b""

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers


def http_request_bytes(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"POST {parts.path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_labels(headers: dict[str, str], body: bytes) -> list[int]:
    """Labels (the first output) of a JSON or binary-extension OIP response, or of ``predictions``
    (v1, MLflow: per row a value or an object whose first value is the label, or per output a list)."""
    head_len = int(headers.get("inference-header-content-length", len(body)))
    resp = json.loads(body[:head_len])
    if "predictions" in resp:
        rows = resp["predictions"]
        if isinstance(rows, dict):
            return [int(v) for v in np.ravel(next(iter(rows.values())))]
        return [int(next(iter(r.values())) if isinstance(r, dict) else np.ravel(r)[0]) for r in rows]
    first = resp["outputs"][0]
    if "data" in first:
        return [int(v) for v in np.asarray(first["data"]).ravel()]
    size = int(first["parameters"]["binary_data_size"])
    dtype = {"INT64": "<i8", "INT32": "<i4", "FP32": "<f4", "FP64": "<f8"}[first["datatype"]]
    return [int(v) for v in np.frombuffer(body[head_len : head_len + size], dtype=dtype)]


def http_calls(
    url: str, body: bytes, headers: dict[str, str], n: int, retry_after_cap: float = 0.0
) -> tuple[list[Call], Call]:
    """One call per worker (each with its own connection) and a probe returning labels."""
    host, port, request = http_request_bytes(url, body, headers)

    def make(conn: HttpConnection) -> Call:
        async def call() -> Outcome:
            status, reply_headers, _ = await conn.call()
            if status == 503 and retry_after_cap > 0:  # a polite client waits as it was told to
                await asyncio.sleep(min(float(reply_headers.get("retry-after", "1")), retry_after_cap))
            return "ok" if status == 200 else SHED if status == 503 else "error"

        return call

    probe_conn = HttpConnection(host, port, request)

    async def probe() -> Outcome:
        status, hdrs, raw = await probe_conn.call()
        await probe_conn.close()
        if status != 200:
            raise RuntimeError(f"probe answered HTTP {status}: {raw[:300]!r}")
        return json.dumps(http_labels(hdrs, raw))

    return [make(HttpConnection(host, port, request)) for _ in range(n)], probe


# ----------------------------------------------------------------------------- gRPC client
def grpc_calls(target: str, x: np.ndarray, input_name: str, model: str, n: int) -> tuple[list[Call], Call]:
    import grpc

    from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
    from modelport.serving.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

    channel = grpc.aio.insecure_channel(target)
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    tensor = pb.ModelInferRequest.InferInputTensor(name=input_name, datatype="FP32", shape=list(x.shape))
    request = pb.ModelInferRequest(
        model_name=model, inputs=[tensor], raw_input_contents=[x.astype("<f4").tobytes()]
    )

    async def call() -> Outcome:
        try:
            await stub.ModelInfer(request)
        except grpc.aio.AioRpcError as exc:
            return SHED if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else "error"
        return "ok"

    async def probe() -> Outcome:
        resp = await stub.ModelInfer(request)
        dtype = {"INT64": "<i8", "INT32": "<i4"}.get(resp.outputs[0].datatype, "<i8")
        return json.dumps([int(v) for v in np.frombuffer(resp.raw_output_contents[0], dtype=dtype)])

    return [call] * n, probe


class StreamClient:
    """One ``ModelStreamInfer`` stream shared by every worker: ``send`` waits for its own answer, by id."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self._outgoing: asyncio.Queue[Any] = asyncio.Queue()
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._reader: asyncio.Task[None] | None = None  # started by the first call, on the running loop

    async def send(self, request: Any) -> Any:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_answers())
        request.id = str(next(self._ids))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = future
        self._outgoing.put_nowait(request)
        return await future

    async def _requests(self) -> Any:
        while True:
            yield await self._outgoing.get()

    async def _read_answers(self) -> None:
        import grpc

        try:
            async for answer in self._stub.ModelStreamInfer(self._requests()):
                future = self._waiting.pop(answer.infer_response.id, None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except grpc.aio.AioRpcError:
            pass  # the stream broke (the server went away): its waiting calls fail below
        finally:  # nobody waits for ever
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("the stream ended"))
            self._waiting.clear()


def grpc_stream_calls(
    target: str, x: np.ndarray, input_name: str, model: str, n: int
) -> tuple[list[Call], Call]:
    """Every worker's requests on ONE ``ModelStreamInfer`` stream over one channel, answers matched by id.

    One stream for all rather than one per worker: that is what the streaming call is for (one call
    carrying many requests, as tritonclient's one stream per client does), and it compares like for
    like with ``grpc``, whose workers share one channel too. Each worker still keeps one request in
    flight; past the server's ``grpc.max_stream_in_flight`` (64) the extra ones wait on the stream's
    back-pressure, which then shows in their latency. A failed answer carries no status code, so a
    shed request counts as an error here.
    """
    import grpc

    from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
    from modelport.serving.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

    stream = StreamClient(pb_grpc.GRPCInferenceServiceStub(grpc.aio.insecure_channel(target)))
    tensor = pb.ModelInferRequest.InferInputTensor(name=input_name, datatype="FP32", shape=list(x.shape))
    raw = x.astype("<f4").tobytes()

    async def send() -> Any:
        request = pb.ModelInferRequest(model_name=model, inputs=[tensor], raw_input_contents=[raw])
        return await stream.send(request)

    async def call() -> Outcome:
        return "error" if (await send()).error_message else "ok"

    async def probe() -> Outcome:
        resp = (await send()).infer_response
        dtype = {"INT64": "<i8", "INT32": "<i4"}.get(resp.outputs[0].datatype, "<i8")
        return json.dumps([int(v) for v in np.frombuffer(resp.raw_output_contents[0], dtype=dtype)])

    return [call] * n, probe


# ----------------------------------------------------------------------------- load loop
@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, SHED: 0, "error": 0})
    recording: bool = False


async def worker(call: Call, tally: Tally, stop_at: list[float]) -> None:
    while (start := time.perf_counter()) < stop_at[0]:
        try:
            outcome = await call()
        except Exception:
            outcome = "error"
            await asyncio.sleep(0.01)  # a refused connection should not spin
        if tally.recording:
            tally.counts[outcome] += 1
            if outcome == "ok":
                tally.latencies.append(time.perf_counter() - start)


async def run_load(
    calls: list[Call], warmup: float, duration: float, server_pid: int | None
) -> dict[str, Any]:
    tally = Tally()
    stop_at = [time.perf_counter() + warmup + duration + 3600]
    tasks = [asyncio.create_task(worker(c, tally, stop_at)) for c in calls]
    await asyncio.sleep(warmup)
    pids = tree_pids(server_pid) if server_pid else []
    srv0, cpu0, t0 = tree_cpu_s(pids), time.process_time(), time.perf_counter()
    tally.recording = True
    await asyncio.sleep(duration)
    tally.recording = False
    wall = time.perf_counter() - t0
    srv1, cpu1 = tree_cpu_s(pids), time.process_time()
    stop_at[0] = 0.0
    await asyncio.wait(tasks, timeout=15)
    return summarize(tally, wall, cpu1 - cpu0, (srv1 - srv0) if pids else None)


def summarize(tally: Tally, wall: float, client_cpu: float, server_cpu: float | None) -> dict[str, Any]:
    lat = np.asarray(tally.latencies) * 1e3
    total = sum(tally.counts.values())
    ok = tally.counts["ok"]

    def pct(q: float) -> float | None:
        return float(np.percentile(lat, q)) if len(lat) else None

    return {
        "wall_s": wall,
        "requests": total,
        **tally.counts,
        "rps": ok / wall,
        "attempts_per_s": total / wall,
        "shed_share": tally.counts[SHED] / total if total else 0.0,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": float(lat.max()) if len(lat) else None,
        "client_cpu_pct": client_cpu / wall * 100,
        "server_cpu_pct": None if server_cpu is None else server_cpu / wall * 100,
        "server_cpu_ms_per_req": (server_cpu / ok * 1e3) if server_cpu is not None and ok else None,
    }


def build_calls(a: argparse.Namespace) -> tuple[list[Call], Call]:
    x = load_rows(Path(a.rows_file), a.rows)
    if a.protocol == "grpc":
        return grpc_calls(a.url, x, a.input_name, a.model, a.concurrency)
    if a.protocol == "grpc-stream":
        return grpc_stream_calls(a.url, x, a.input_name, a.model, a.concurrency)
    bodies = {
        "json": json_body,
        "binary": binary_body,
        "v1": rows_body("instances", {}),
        "mlflow": rows_body("inputs", {"x-modelport-target": a.model}),
    }
    body, headers = bodies[a.protocol](x, a.input_name)
    return http_calls(a.url, body, headers, a.concurrency, a.retry_after_cap)


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    calls, probe = build_calls(a)
    labels = json.loads(await probe())
    result = await run_load(calls, a.warmup, a.duration, a.server_pid)
    return {"protocol": a.protocol, "rows": a.rows, "concurrency": a.concurrency, "labels": labels, **result}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="HTTP infer URL, or host:port for --protocol grpc(-stream)")
    ap.add_argument(
        "--protocol", choices=["json", "binary", "grpc", "grpc-stream", "v1", "mlflow"], default="json"
    )
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--rows-file", required=True, help="JSON list of rows (peer_bench's sample_rows.json)")
    ap.add_argument("--input-name", default="input-0")
    ap.add_argument("--model", default="clf", help="model name (gRPC, MLflow's target header)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--server-pid", type=int, default=None, help="measure this process tree's CPU")
    ap.add_argument(
        "--retry-after-cap",
        type=float,
        default=0.0,
        help="on 503, wait Retry-After seconds (at most this many) before the next request; 0: retry at once",
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(asyncio.run(main_async(parse_args(argv)))))


if __name__ == "__main__":
    main()
