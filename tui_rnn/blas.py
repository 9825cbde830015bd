"""The same bits on every x86-64 machine: which kernels NumPy and OpenBLAS run.

Two libraries choose their code by CPU when NumPy loads, and the report's run is chaotic enough
to show every last bit they change. OpenBLAS (in NumPy's wheels) picks a matrix-product kernel
per CPU, and kernels add a product's terms in different orders; NumPy's own loops (sums, exp,
tanh, log) pick AVX-512 or AVX2 code, with other reduction orders and other last bits. So
wherever the CPU has AVX2 and FMA (x86-64 machines since 2013, Intel and AMD) tui-rnn asks for
OpenBLAS's Haswell kernels and turns NumPy's AVX-512 paths off, before NumPy loads: every such
machine then computes alike. A user's own OPENBLAS_CORETYPE or NPY_DISABLE_CPU_FEATURES is
left alone. Elsewhere (no AVX2, ARM) the code is the machine's: the same bits on the same
machine, not across machines. The figures are in docs/performance.md.

The number of BLAS threads changes the bits too, and OpenBLAS starts one per core: so one
thread unless OPENBLAS_NUM_THREADS says otherwise; training raises it to the run's own
--threads (recorded in its config) while it trains.

Nothing here imports NumPy: `pin` must run first (tui_rnn/__init__.py calls it).
"""

from __future__ import annotations

import os
import platform
import sys

from threadpoolctl import threadpool_info

KERNELS = "Haswell"
CORETYPE = "OPENBLAS_CORETYPE"  # both read by OpenBLAS once, when it loads
THREADS = "OPENBLAS_NUM_THREADS"
NUMPY_FEATURES = "NPY_DISABLE_CPU_FEATURES"
# NumPy 2.4 groups AVX-512 as X86_V4 and two later sets; older NumPy names each part.
AVX512 = (
    "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
    "AVX512_CLX AVX512_CNL AVX512_FP16"
)


def can_run_pinned_kernels() -> bool:
    """True on an x86-64 Linux CPU with AVX2 and FMA (what Haswell's kernels use)."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return {"avx2", "fma"} <= flags
    except OSError:
        pass
    return False


def pin() -> None:
    """Ask for KERNELS and NumPy's AVX2 paths (where the CPU can run them) and one thread,
    unless NumPy is loaded already or the user chose otherwise."""
    if "numpy" in sys.modules:
        return
    os.environ.setdefault(THREADS, "1")
    if can_run_pinned_kernels():
        os.environ.setdefault(CORETYPE, KERNELS)
        os.environ.setdefault(NUMPY_FEATURES, AVX512)


def kernels() -> set[str]:
    """The kernels of every OpenBLAS loaded in this process (empty: none is)."""

    return {
        str(info.get("architecture"))
        for info in threadpool_info()
        if info.get("internal_api") == "openblas"
    }
