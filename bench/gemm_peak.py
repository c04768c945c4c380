"""The machine's GEMM peaks: OpenBLAS fp32 against oneDNN bf16 (fp32
accumulation), on the GEMM shapes of the benchmark model (batch 8 x seq 256
rows, hidden 512, MLP 2048, vocab 8192) and a square 2048 one, on the same
threads. The bf16 training work measures itself against these numbers.

usage: python3 bench/gemm_peak.py [--threads 2] [--reps 10]
           [--out bench/results/gemm_peak.json]
Needs libdnnl-dev and libopenblas-openmp-dev (scripts/setup.sh).
"""
import argparse
import json
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "gemm_peak.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        binary = os.path.join(work, "gemm_peak")
        subprocess.run(["g++", "-O2", "-std=c++17", "-fopenmp",
                        os.path.join(ROOT, "bench", "gemm_peak.cpp"), "-o",
                        binary, "-I/usr/include/x86_64-linux-gnu/openblas-openmp",
                        f"-L{OPENBLAS}", f"-Wl,-rpath,{OPENBLAS}", "-lopenblas",
                        "-ldnnl"], check=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        # As slapo-run does (lib/Runtime/CPU/OpenBlasCore.cpp): OpenBLAS
        # 0.3.21 gives CPUs newer than it knows its generic kernels.
        if "OPENBLAS_CORETYPE" not in env and "avx512f" in open(
                "/proc/cpuinfo").read():
            env["OPENBLAS_CORETYPE"] = "SkylakeX"
        rows = json.loads(subprocess.run([binary, str(args.reps)], check=True,
                                         env=env, capture_output=True,
                                         text=True).stdout)
    print(f"{'M x N x K':<20} {'OpenBLAS fp32':>14} {'oneDNN bf16':>12} "
          f"{'ratio':>6}  oneDNN kernel   (GFLOP/s, {args.threads} threads)")
    for r in rows:
        shape = f"{r['m']} x {r['n']} x {r['k']}"
        ratio = r["onednn_bf16_gflops"] / r["openblas_fp32_gflops"]
        print(f"{shape:<20} {r['openblas_fp32_gflops']:>14.1f} "
              f"{r['onednn_bf16_gflops']:>12.1f} {ratio:>6.2f}  "
              f"{r['onednn_impl']}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"threads": args.threads, "reps": args.reps, "rows": rows},
                  f, indent=2)


if __name__ == "__main__":
    main()
