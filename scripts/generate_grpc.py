"""Regenerate the Open Inference Protocol gRPC code from ``proto/grpc_predict_v2.proto``.

    python scripts/generate_grpc.py            # writes src/modelport/serving/grpc/grpc_predict_v2_pb2*.py(i)
    python scripts/generate_grpc.py --out DIR  # writes the same three files into DIR instead

The proto is compiled from a temporary tree where it sits at ``modelport/serving/grpc/``, so the generated
``_pb2_grpc`` module imports ``modelport.serving.grpc.grpc_predict_v2_pb2`` as a package module.

One post-processing step: the messages are registered in a private descriptor pool instead of protobuf's
default one. Their full names (``inference.ModelInferRequest`` ...) must be the protocol's for wire
compatibility, and tritonclient.grpc registers the very same names in the default pool: sharing it would
make importing both in one process fail with "duplicate symbol".
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto" / "grpc_predict_v2.proto"
PACKAGE_DIR = Path("modelport", "serving", "grpc")
DEFAULT_OUT = ROOT / "src" / PACKAGE_DIR
STEM = "grpc_predict_v2"
OUTPUTS = (f"{STEM}_pb2.py", f"{STEM}_pb2.pyi", f"{STEM}_pb2_grpc.py")

_DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
_PRIVATE_POOL = (
    "# modelport: a private pool, so that tritonclient's identically named messages can coexist.\n"
    "_POOL = _descriptor_pool.DescriptorPool()\n"
    "DESCRIPTOR = _POOL.AddSerializedFile("
)


def generate(out: Path) -> list[Path]:
    """Compile the proto and write the generated modules into ``out``; returns the written paths."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "proto"), Path(tmp, "gen")
        (source / PACKAGE_DIR).mkdir(parents=True)
        target.mkdir()
        shutil.copyfile(PROTO, source / PACKAGE_DIR / PROTO.name)
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{source}",
            f"--python_out={target}",
            f"--pyi_out={target}",
            f"--grpc_python_out={target}",
            str(PACKAGE_DIR / PROTO.name),
        ]
        subprocess.run(command, check=True, cwd=source)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in OUTPUTS:
            text = (target / PACKAGE_DIR / name).read_text(encoding="utf-8")
            if name.endswith("_pb2.py"):
                text = _private_pool(text)
            path = out / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def _private_pool(text: str) -> str:
    if text.count(_DEFAULT_POOL) != 1:
        raise RuntimeError(
            "the generated _pb2.py no longer registers its file as expected; update this script"
        )
    return text.replace(_DEFAULT_POOL, _PRIVATE_POOL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for the generated files")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)


if __name__ == "__main__":
    main()
