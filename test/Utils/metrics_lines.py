"""Waiting for a training job's --metrics .jsonl to reach a number of lines
(the signal drivers of test/Run/Inputs and test/Parallel/Inputs)."""
import sys
import time


def count_lines(path):
    """The lines `path` holds so far (0 before it exists)."""
    try:
        with open(path) as f:
            return f.read().count("\n")
    except FileNotFoundError:
        return 0


def wait_for_lines(process, path, lines, seconds):
    """Returns once `path` holds `lines` lines; exits with FAIL if `process`
    (a Popen with stderr=PIPE, text=True) ends first or `seconds` pass."""
    deadline = time.time() + seconds
    while count_lines(path) < lines:
        if process.poll() is not None:
            sys.exit(f"FAIL: the job ended ({process.returncode}) before "
                     f"{lines} metrics lines:\n{process.stderr.read()}")
        if time.time() > deadline:
            sys.exit(f"FAIL: the job did not write {lines} metrics lines in "
                     f"{seconds:g} s")
        time.sleep(0.005)
