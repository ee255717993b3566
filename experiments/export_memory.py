"""Peak RSS and wall time of a ``tommer detect`` process with the ONNX export of engine version 3
(one file) or 4 (weights as external data, memory-mapped), everything else the same.

The engine version is set before the CLI runs, so each version uses (or builds) its own export in
the cache. Each call runs one new process and prints its wall time and ``ru_maxrss``:

    python experiments/export_memory.py 3 detect "Angela Merkel met Emmanuel Macron in Paris." --engine onnx
    python experiments/export_memory.py 4 detect -i corpus.jsonl -o out.jsonl --engine onnx
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def child(version: int, argv: list[str]) -> int:
    import tommer.core.engines.build as build

    build.ENGINE_VERSION = version
    from tommer.cli import main

    sys.argv = ["tommer", *argv]
    return main()


def parent() -> None:
    version, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", version, *argv], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "engine_version": int(version),
                "argv": argv[:3],
                "wall_s": round(wall, 2),
                "peak_rss_mb": round(usage.ru_maxrss / 1024),
                "status": status,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        sys.exit(child(int(sys.argv[2]), sys.argv[3:]))
    parent()
