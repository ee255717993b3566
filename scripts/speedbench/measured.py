"""Run a command and write its wall time, peak RSS and exit status as JSON: the launcher of
:func:`speedbench.common.run_process`.

    python measured.py RECORD.json CMD [ARG ...]

Linux carries a process's peak RSS across fork and exec (``ru_maxrss`` of a child is at least what
its parent held when it forked), so a child of the bench, which holds models in memory, would
report the bench's RSS as its own floor. This small process is forked instead and forks the command
itself: the command's ``ru_maxrss`` counts from this process's few megabytes.
"""

import json
import os
import subprocess
import sys
import time


def main() -> int:
    record, cmd = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    with open(record, "w") as f:
        json.dump({"wall_s": wall, "maxrss_kib": usage.ru_maxrss, "status": status}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
