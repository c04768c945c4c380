#!/usr/bin/env python3
"""Starts an mpirun job, waits until its --metrics .jsonl holds LINES step
lines, stops rank RANK (SIGSTOP to the slapo-run under mpirun whose
environment has OMPI_COMM_WORLD_RANK=RANK; "all": every rank), and waits
at most 60 s for the job to end. Prints "stopped rank RANK", the job's
stderr, then "exit N". Whatever happens, no process of the job is left
stopped or running.

With --resume-after S the stopped ranks get SIGCONT S seconds later (as a
suspended Slurm job resumes); once LINES more step lines are written,
mpirun gets SIGTERM, and the job must end within 60 s of it.

usage: stop_rank.py [--resume-after S] RANK|all LINES METRICS.jsonl COMMAND...
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "Utils"))
from metrics_lines import count_lines, wait_for_lines  # noqa: E402


def processes():
    """{pid: (ppid, start time, command name)} of every process now."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), fields[19], name)
    return table


def descendants(root):
    """{pid: start time} of every process below `root`."""
    table = processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, start, _) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = start
                frontier.append(pid)
    return found, table


def rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"OMPI_COMM_WORLD_RANK="):
                    return int(item.split(b"=", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def end_all(known):
    """SIGCONT then SIGKILL to each process of `known` ({pid: start time})
    that is still the same process."""
    table = processes()
    for pid, start in known.items():
        if pid in table and table[pid][1] == start:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass


def main():
    args = sys.argv[1:]
    resume_after = None
    if args[0] == "--resume-after":
        resume_after, args = float(args[1]), args[2:]
    rank, lines, path, command = (args[0], int(args[1]), args[2], args[3:])
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    known = {}
    try:
        wait_for_lines(job, path, lines, 120)
        found, table = descendants(job.pid)
        known.update(found)
        target = [pid for pid in found if table[pid][2] == "slapo-run" and
                  (rank == "all" or rank_of(pid) == int(rank))]
        if not target or (rank != "all" and len(target) != 1):
            sys.exit(f"FAIL: found {len(target)} slapo-run processes of "
                     f"rank {rank} under mpirun")
        for pid in target:
            os.kill(pid, signal.SIGSTOP)
        print(f"stopped rank {rank}", flush=True)
        if resume_after is not None:
            written = count_lines(path)
            time.sleep(resume_after)
            for pid in target:
                os.kill(pid, signal.SIGCONT)
            print(f"resumed after {resume_after:g} s", flush=True)
            wait_for_lines(job, path, written + lines, 120)
            job.send_signal(signal.SIGTERM)
        try:
            _, stderr = job.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            sys.exit(f"FAIL: the job did not end within 60 s of "
                     f"{'SIGTERM' if resume_after else 'SIGSTOP'} to "
                     f"rank {rank}")
        sys.stdout.write(stderr)
        print(f"exit {job.returncode}")
    finally:
        found, _ = descendants(job.pid)
        known.update(found)
        if job.poll() is None:
            try:
                os.killpg(job.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            job.wait()
        end_all(known)


if __name__ == "__main__":
    main()
