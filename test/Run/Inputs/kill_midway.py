#!/usr/bin/env python3
"""Starts a command that streams JSON lines to FILE, kills it with SIGKILL
once FILE holds 5 lines, and checks that every line it left is whole.

usage: kill_midway.py FILE COMMAND...
"""
import json
import os
import signal
import subprocess
import sys
import time


def lines(path):
    try:
        with open(path) as f:
            return f.read().split("\n")
    except FileNotFoundError:
        return [""]


def main():
    path, command = sys.argv[1], sys.argv[2:]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(lines(path)) < 6 and time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"FAIL: the command ended ({process.returncode}) first")
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    text = lines(path)
    if text[-1] != "":
        sys.exit(f"FAIL: the last line is cut: {text[-1]!r}")
    records = [json.loads(line) for line in text[:-1]]
    steps = [r["step"] for r in records]
    if steps != list(range(1, len(steps) + 1)) or len(steps) < 5:
        sys.exit(f"FAIL: steps {steps}")
    keys = sorted(records[0])
    if any(sorted(r) != keys for r in records):
        sys.exit("FAIL: the lines have different fields")
    print(f"killed after {len(records)} whole lines: steps 1 to {steps[-1]} "
          f"in order, each with {', '.join(keys)}")


if __name__ == "__main__":
    main()
