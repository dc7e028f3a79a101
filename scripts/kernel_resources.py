#!/usr/bin/env python3
"""The CUDA kernels' resources as ptxas assigns them, per function, with what to look at first.

    python3 scripts/kernel_resources.py BUILD_DIR     # a configured build with SPECSWEEP_CUDA=ON
    python3 scripts/kernel_resources.py --log FILE    # ptxas's report saved earlier

Compiles kernels/cuda/cuda_backend.cu once more with the build's own command plus
--resource-usage (minutes), into a temporary object, and prints for every kernel its registers and
stack, and for every function ptxas kept out of line (the compiler decides which) its spill bytes.

Why per function: a kernel's own line covers only its body. The steps it calls out of line
(evaluate, update_direction, BatchedSteps::run, ...) report their spills on their own lines, and
they run under the kernel's register count: at one revision the fused fp32 kernel took 32
registers, and its per-step callees spilled 19-28 KB of code each, while its own line showed 12
bytes (bench/RESULTS.md, 2026-12-06). The check below flags such a build; it prints, it does not
fail, for the numbers are static counts and only a profile says what they cost.
"""
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

OBJECT = "kernels/CMakeFiles/specsweep_cuda.dir/cuda/cuda_backend.cu.o"
# A kernel with fewer registers than this has its callees squeezed (the fused one needs ~168).
MIN_KERNEL_REGISTERS = 64
# Spill bytes (stores + loads, static) above which a function is named for the first profile.
SPILL_NOTE_BYTES = 8192


def compile_command(build: Path) -> list:
    lines = subprocess.run(["ninja", "-C", str(build), "-t", "commands", OBJECT], check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()
    if not lines:
        sys.exit(f"kernel_resources: {build} has no command for {OBJECT} (configure with SPECSWEEP_CUDA=ON)")
    args = shlex.split(lines[-1])
    out = []
    skip = 0
    for a in args:  # drop the dependency file and the output; ours go to a temporary folder
        if skip:
            skip -= 1
            continue
        if a in ("-MD",):
            continue
        if a in ("-MT", "-MF", "-o"):
            skip = 1
            continue
        out.append(a)
    return out


def demangled(names):
    try:
        text = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True,
                              check=True).stdout
        return text.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return list(names)


def short(name: str) -> str:
    """void specsweep::cuda::seed_kernel<float>(...) -> seed_kernel<float>: the function's name
    without its return type and parameters, keeping the template arguments that tell precision
    and executor apart."""
    depth, start, end = 0, 0, len(name)
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == " " and depth == 0:
            start = i + 1  # after the return type
        elif ch == "(" and depth == 0:
            end = i  # the parameter list
            break
    name = name[start:end]
    for prefix in ("specsweep::", "strategy::", "cuda::"):
        name = name.replace(prefix, "")
    name = re.sub(r"Interleaved<(float|double), 32>", r"\1", name)
    return name[:60]


def ptxas_report(build: Path) -> list:
    cmd = compile_command(build)
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(cmd + ["-o", str(Path(tmp) / "probe.o"), "--resource-usage"],
                             cwd=build, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(run.stdout + run.stderr + "kernel_resources: the compile failed")
    return (run.stdout + run.stderr).splitlines()


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--log":
        lines = Path(sys.argv[2]).read_text().splitlines()
    elif len(sys.argv) == 2:
        lines = ptxas_report(Path(sys.argv[1]).resolve())
    else:
        sys.exit(__doc__)
    rows = []  # (mangled, stack, spill stores, spill loads, registers or None)
    for i, line in enumerate(lines):
        m = re.search(r"Function properties for (\S+)", line)
        if not m or "__internal" in m.group(1) or i + 1 >= len(lines):
            continue
        f = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads",
                      lines[i + 1])
        regs = None
        if i + 2 < len(lines):
            r = re.search(r"Used (\d+) registers", lines[i + 2])
            regs = int(r.group(1)) if r else None
        if f:
            rows.append((m.group(1), *map(int, f.groups()), regs))
    names = demangled([r[0] for r in rows])
    print(f"{'function':<60} {'registers':>9} {'stack B':>8} {'spill st/ld B':>15}")
    notes = []
    for (_, stack, st, ld, regs), name in zip(rows, names):
        label = short(name)
        print(f"{label:<60} {regs if regs is not None else '':>9} {stack:>8} {f'{st}/{ld}':>15}")
        if regs is not None and regs < MIN_KERNEL_REGISTERS:
            notes.append(f"{label}: {regs} registers; the functions it calls run within them")
        if st + ld > SPILL_NOTE_BYTES:
            notes.append(f"{label}: {st + ld} bytes of spill code")
    for n in notes:
        print("LOOK:", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
