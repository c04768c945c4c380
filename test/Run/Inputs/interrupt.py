#!/usr/bin/env python3
"""Starts slapo-run, waits until its --metrics .jsonl holds LINES step
lines, sends SIGNAL (TERM, INT or KILL), and prints how it ended.

usage: interrupt.py SIGNAL LINES METRICS.jsonl COMMAND...
"""
import os
import signal
import subprocess
import sys
import time


def main():
    name, lines, path, command = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                  sys.argv[4:])
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    def count():
        try:
            with open(path) as f:
                return f.read().count("\n")
        except FileNotFoundError:
            return 0
    while count() < lines and time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"FAIL: slapo-run ended ({process.returncode}) first:\n"
                     f"{process.stderr.read()}")
        time.sleep(0.005)
    process.send_signal(getattr(signal, "SIG" + name))
    _, stderr = process.communicate(timeout=300)
    print(f"exit {process.returncode}")
    sys.stdout.write(stderr)


if __name__ == "__main__":
    main()
