"""The same bits on every machine: which OpenBLAS kernels NumPy runs.

NumPy's wheels ship OpenBLAS built to choose its kernels when it loads, by CPU (DYNAMIC_ARCH),
and kernels for different CPUs add up a matrix product's terms in different orders. The
report's run is chaotic enough to show it: after 3,000 updates smooth_loss is 63.873273374440906
with the AVX2 kernels (OpenBLAS's "Haswell", also chosen on AMD Zen up to Zen 3) and
64.75513166293386 with the AVX-512 ones ("SkylakeX", chosen on AMD Zen 4 and Intel since
Skylake-SP): the same code, other bits. So tui-rnn asks for Haswell's kernels wherever the CPU
can run them (AVX2 and FMA: x86-64 machines since 2013), before NumPy loads OpenBLAS; a user's
own OPENBLAS_CORETYPE is left alone. Elsewhere (no AVX2, ARM, a NumPy without OpenBLAS) the
kernels are the machine's: the same bits on the same machine, not across machines.

The number of BLAS threads changes the bits too (with these kernels a product on two threads
adds its terms in another order than on one), and OpenBLAS starts one per core: so one thread,
whatever the machine, unless OPENBLAS_NUM_THREADS says otherwise; training raises it to the
run's own --threads (recorded in its config) while it trains.

Nothing here imports NumPy: `pin` must run first (tui_rnn/__init__.py calls it).
"""

from __future__ import annotations

import os
import platform
import sys

KERNELS = "Haswell"
CORETYPE = "OPENBLAS_CORETYPE"  # both read by OpenBLAS once, when it loads
THREADS = "OPENBLAS_NUM_THREADS"


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
    """Ask for KERNELS (where the CPU can run them) and one thread, unless NumPy has loaded
    OpenBLAS already or the user chose otherwise."""
    if "numpy" in sys.modules:
        return
    os.environ.setdefault(THREADS, "1")
    if CORETYPE not in os.environ and can_run_pinned_kernels():
        os.environ[CORETYPE] = KERNELS


def kernels() -> set[str]:
    """The kernels of every OpenBLAS loaded in this process (empty: none is)."""
    from threadpoolctl import threadpool_info

    return {
        str(info.get("architecture"))
        for info in threadpool_info()
        if info.get("internal_api") == "openblas"
    }
