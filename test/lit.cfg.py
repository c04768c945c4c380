# -*- Python -*- lit configuration for slapo's regression tests.
import os
import subprocess

import lit.formats

config.name = "slapo"
# Run RUN lines with bash (pipefail): tests check exact exit codes.
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.slapo_obj_root, "test")
config.excludes = ["Inputs", "Utils", "CMakeLists.txt", "lit.cfg.py",
                   "lit.site.cfg.py", "README.md"]

config.environment["FILECHECK_OPTS"] = "-enable-var-scope"
config.environment["PATH"] = os.pathsep.join(
    [config.slapo_tools_dir, config.llvm_tools_dir,
     config.environment.get("PATH", "")])

utils = os.path.join(config.test_source_root, "Utils")
config.substitutions.append(("%models", os.path.join(config.slapo_src_root, "models")))
config.substitutions.append(("%expect-exit", os.path.join(utils, "expect-exit")))

# The reference oracle: Hugging Face transformers on PyTorch.
python = config.reference_python
if python and os.path.exists(python):
    probe = subprocess.run(
        [python, "-c", "import torch, transformers"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe.returncode == 0:
        config.available_features.add("reference")
        config.substitutions.append(("%reference-python", python))
    else:
        lit_config.note(f"{python} cannot import torch and transformers: "
                        "reference tests are skipped")
else:
    lit_config.note("no reference Python (run scripts/setup-reference.sh): "
                    "reference tests are skipped")
config.substitutions.append(("%utils", utils))
# The tools of this build, for scripts that would use build/bin.
config.substitutions.append(("%bindir", config.slapo_tools_dir))

# In CI the reference comparisons must run, not skip.
if os.environ.get("CI") == "true" and "reference" not in config.available_features:
    lit_config.fatal("CI=true but the reference environment is missing: "
                     "run scripts/setup-reference.sh")

# The sanitized build (scripts/test.sh --sanitize): every finding is fatal;
# "asan" marks the tests that cannot run under AddressSanitizer.
asan_options = ""
if config.slapo_sanitize:
    config.available_features.add("asan")
    asan_options = os.environ.get(
        "ASAN_OPTIONS",
        "detect_leaks=1:strict_string_checks=1:allow_user_poisoning=0")
    config.environment["ASAN_OPTIONS"] = asan_options
    config.environment["UBSAN_OPTIONS"] = os.environ.get(
        "UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
# How far a run's measured peak memory may be from its plan: ASan's shadow
# memory, redzones and quarantine are not the plan's, so it is not compared
# there.
config.substitutions.append(
    ("%peak-tolerance", "skip" if config.slapo_sanitize else "0.10"))

# Multi-process tests: OpenMPI's mpirun, oversubscribed (more ranks than this
# machine's cores), one OpenMP thread a rank.
import shutil
mpirun = shutil.which("mpirun")
if mpirun:
    config.available_features.add("mpi")
    # OpenMPI's own allocations outlive MPI_Finalize: under ASan the ranks
    # keep every check but leak detection.
    rank_env = "-x OMP_NUM_THREADS=1"
    if config.slapo_sanitize:
        rank_env += f" -x ASAN_OPTIONS={asan_options}:detect_leaks=0"
    config.substitutions.append(
        ("%mpirun", f"{mpirun} --oversubscribe {rank_env}"))
    # Allowed where the tests run as root (containers, CI); harmless otherwise.
    config.environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    config.environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    # Containers often forbid the cross-memory-attach copy.
    config.environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
elif os.environ.get("CI") == "true":
    lit_config.fatal("CI=true but mpirun is missing: run scripts/setup.sh")
else:
    lit_config.note("no mpirun (Debian's openmpi-bin): multi-process tests "
                    "are skipped")

# The CUDA backend: "cuda-backend" where slapo-run was built with it, and
# "gpu" where an NVIDIA GPU is also visible (nvidia-smi lists one). Tests
# that run on a GPU REQUIRE gpu and are reported unsupported elsewhere.
if config.slapo_have_cuda:
    config.available_features.add("cuda-backend")
    smi = shutil.which("nvidia-smi")
    listed = subprocess.run([smi, "-L"], capture_output=True, text=True) if smi else None
    if listed and listed.returncode == 0 and "GPU" in listed.stdout:
        config.available_features.add("gpu")
    else:
        lit_config.note("no CUDA device (nvidia-smi lists no GPU): the tests "
                        "that run on a GPU are skipped")
