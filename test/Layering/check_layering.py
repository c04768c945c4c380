"""Checks the layering of the source tree: the dialects (dialects/) include
no header of lib/'s (include/slapo/...) and link no library lib/ defines;
the runtime, the run driver and the tokenizer (lib/Runtime, lib/Run,
lib/Tokenizer and their headers) include no MLIR or LLVM header.

usage: check_layering.py SOURCE_ROOT
Prints each violation, then PASS or FAIL (exit status 1).
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]', re.M)
ADD_LIBRARY = re.compile(r"add_library\(\s*(\w+)")
LINK = re.compile(r"target_link_libraries\(([^)]*)\)", re.S)
SOURCES = (".h", ".cpp", ".td", ".inc")


def files_under(root, suffixes):
    for directory, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith(suffixes) or name in suffixes:
                yield os.path.join(directory, name)


def main():
    root = sys.argv[1]
    rel = lambda path: os.path.relpath(path, root)
    failures = []
    dialects = os.path.join(root, "dialects")
    for path in files_under(dialects, SOURCES):
        for header in INCLUDE.findall(open(path).read()):
            if header.startswith("slapo/"):
                failures.append(f"{rel(path)} includes {header} (lib/'s)")
    lib_targets = set()
    for path in files_under(os.path.join(root, "lib"), ("CMakeLists.txt",)):
        lib_targets.update(ADD_LIBRARY.findall(open(path).read()))
    for path in files_under(dialects, ("CMakeLists.txt",)):
        for args in LINK.findall(open(path).read()):
            for target in args.split():
                if target in lib_targets:
                    failures.append(f"{rel(path)} links {target}, a library "
                                    "of lib/")
    for part in ("Runtime", "Run", "Tokenizer"):
        for top in (os.path.join(root, "lib", part),
                    os.path.join(root, "include", "slapo", part)):
            for path in files_under(top, SOURCES):
                for header in INCLUDE.findall(open(path).read()):
                    if header.startswith(("mlir/", "llvm/")):
                        failures.append(f"{rel(path)} includes {header} "
                                        "(no MLIR or LLVM here)")
    checked = len(lib_targets)
    print(f"checked dialects/ against {checked} libraries of lib/")
    for failure in failures:
        print("FAIL:", failure)
    print("FAIL" if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
