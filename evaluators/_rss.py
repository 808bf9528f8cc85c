"""Peak resident memory of the measuring process."""

from __future__ import annotations

import resource
import sys

MB = 1024 * 1024


def peak_rss_mb() -> float:
    """Peak RSS of this process's own address space.

    Linux: VmHWM from /proc/self/status. Not ru_maxrss: across fork + exec it keeps the
    high-water mark of the parent's address space, so it would report the caller's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024
