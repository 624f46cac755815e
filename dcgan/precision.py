"""Compute precision: fp32, or bf16 on CPUs with bfloat16 units (AMX, AVX-512 BF16), or auto.

`auto` (the default) trains in bf16 where the CPU has bfloat16 units and in fp32 elsewhere: on
both such CPUs measured so far (an AMD EPYC with AVX512-BF16, an Intel Xeon with AMX) bf16
trained 1.8-2.4x faster than fp32 and as well (bench/README.md). Sampling a trained generator
under `auto` is fp32 everywhere (see `effective`).

bf16 is applied by Grappler's oneDNN auto-mixed-precision rewrite when a session's graph is
optimised: convolutions, matmuls and their gradients run in bfloat16 while the variables (master
weights), Adam's slots and the losses stay float32, so checkpoints are the same either way.
What leaves the graph (generated images, D's logits, the losses) is computed in float32 too
(`dcgan.ops.fp32_edge`).
Kept free of TensorFlow imports so flag checks stay fast.
"""

import logging

PRECISIONS = ("auto", "fp32", "bf16")
# /proc/cpuinfo flags of the x86 instructions oneDNN runs bfloat16 math on.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
CPUINFO = "/proc/cpuinfo"

log = logging.getLogger(__name__)


def cpu_flags(cpuinfo=CPUINFO):
    """The set of feature flags of the first CPU in `cpuinfo` (empty when unreadable)."""
    try:
        with open(cpuinfo) as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16(cpuinfo=CPUINFO):
    """True when the CPU has bfloat16 matrix or vector units oneDNN uses."""
    return bool(cpu_flags(cpuinfo) & set(BF16_CPU_FLAGS))


def _auto(gpu, cpuinfo, sampling):
    """What `auto` is on this machine, said in one line with the reason."""
    if sampling:
        log.info("precision auto: fp32 (sampling: the same pictures as the exported model; "
                 "--precision bf16 for bf16)")
        return "fp32"
    if gpu:
        log.info("precision auto: fp32 (a GPU run; the bf16 rewrite is for CPUs)")
        return "fp32"
    units = sorted(cpu_flags(cpuinfo) & set(BF16_CPU_FLAGS))
    if units:
        log.info("precision auto: bf16 (this CPU has %s; --precision fp32 for fp32)",
                 " and ".join(units))
        return "bf16"
    log.info("precision auto: fp32 (this CPU has no bfloat16 units: no %s)",
             " or ".join(BF16_CPU_FLAGS))
    return "fp32"


def effective(precision, gpu=False, cpuinfo=CPUINFO, sampling=False):
    """The precision a run really uses: `auto` decided and said in one line, and a one-line
    warning when bf16 falls back to fp32.

    The rewrite is CPU-only: a GPU run, or a CPU without bfloat16 units, runs fp32. `sampling`:
    the session only runs a trained generator (and D's score), as --visualize and --evaluate
    do. There `auto` is fp32 on every machine: a picture costs milliseconds either way
    (bench/README.md, "Sampling"), and in fp32 a seed gives the same picture as the exported
    model on the web page (docs/speed.md has the contract). `bf16` asked for is kept.
    """
    if precision == "auto":
        return _auto(gpu, cpuinfo, sampling)
    if precision != "bf16":
        return precision
    if gpu:
        log.warning("--precision bf16 is a CPU option: this GPU run computes in fp32")
        return "fp32"
    if not cpu_has_bf16(cpuinfo):
        log.warning("--precision bf16: this CPU has no bfloat16 units (%s), running fp32",
                    " or ".join(BF16_CPU_FLAGS))
        return "fp32"
    return precision
