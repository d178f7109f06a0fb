"""The probe child never asks for more than its parent has: under a stricter hard limit it keeps it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import models

SCRIPT = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # hard: 1 MiB, under the probe's 64 MiB
from modelport.runtimes.probe import probe_artifact
signature = probe_artifact(Path(sys.argv[1]), "onnx", trusted=False, signature=None, sample_input=None,
                           timeout_s=60.0)
print(signature.inputs[0].name)
"""


def test_a_stricter_hard_limit_of_the_parent_is_kept_not_refused(tmp_path: Path) -> None:
    model = models.iris_onnx(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(model)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "X"
