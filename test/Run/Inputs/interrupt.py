#!/usr/bin/env python3
"""Starts slapo-run, waits until its --metrics .jsonl holds LINES step
lines, sends SIGNAL (TERM, INT or KILL), and prints how it ended.

usage: interrupt.py SIGNAL LINES METRICS.jsonl COMMAND...
"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "Utils"))
from metrics_lines import wait_for_lines  # noqa: E402


def main():
    name, lines, path, command = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                  sys.argv[4:])
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    wait_for_lines(process, path, lines, 300)
    process.send_signal(getattr(signal, "SIG" + name))
    _, stderr = process.communicate(timeout=300)
    print(f"exit {process.returncode}")
    sys.stdout.write(stderr)


if __name__ == "__main__":
    main()
