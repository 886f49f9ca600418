"""CPU time of a command and everything it starts, grouped by kind of process (Linux /proc).

    python tools/cpu_by_process.py make test

Samples /proc every 0.2 s while the command runs and adds up, per kind (Chromium, the test
workers, the site builds, ...), the CPU time (user + system) of the command and each process it
starts, at the last sample that saw it: a process that lives less than 0.2 s, or leaves the
command's tree (an orphan), may be missed or cut short, so the total is a lower bound. What the
suite's time goes to: it is CPU-bound, so the groups say where less work would make it faster
(see CONTRIBUTING.md).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
KINDS = [  # (kind, words in the command line), first match wins
    ("chromium", ("chrom",)),
    ("playwright driver", ("playwright",)),
    ("site builds", ("mkdocs", "properdocs")),
    ("notebook kernels", ("ipykernel",)),
    ("benchmark subprocesses", ("-m benchmarks",)),
    ("test workers", ("exec(eval(sys.stdin",)),
    ("pytest controller", ("pytest",)),
    ("node", ("node",)),
]


def kind_of(pid: str) -> str:
    try:
        command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return next((kind for kind, words in KINDS if any(word in command for word in words)), "other")


def parent_and_cpu(pid: str) -> tuple[str, float] | None:
    """The parent's pid and the CPU seconds (user + system) a process has used so far."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[1], (int(fields[11]) + int(fields[12])) / TICK


def main(command: list[str]) -> int:
    seen: dict[str, list] = {}  # pid of the command or a descendant -> [kind, CPU seconds, last seen]
    start = time.monotonic()
    process = subprocess.Popen(command)
    while process.poll() is None:
        table = {pid: found for pid in os.listdir("/proc") if pid.isdigit() and (found := parent_and_cpu(pid))}
        ours = {str(process.pid)} | set(seen)
        grown = True
        while grown:  # the command's descendants: children of ours are ours
            new = {pid for pid, (parent, _) in table.items() if parent in ours and pid not in ours}
            ours |= new
            grown = bool(new)
        for pid in ours & set(table):
            if pid not in seen:
                seen[pid] = [kind_of(pid), 0.0]
            seen[pid][1] = table[pid][1]
        time.sleep(0.2)
    wall = time.monotonic() - start
    total = collections.Counter()
    for kind, used in seen.values():
        total[kind] += used
    print(f"\n{wall:.0f} s wall, {sum(total.values()):.0f} CPU-s on {os.cpu_count()} cores:", file=sys.stderr)
    for kind, seconds in total.most_common():
        print(f"{seconds:8.1f} CPU-s  {kind}", file=sys.stderr)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
