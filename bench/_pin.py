"""``python -m bench._pin CPUS PROGRAM [ARG...]``: PROGRAM run on CPUS only (``1``, ``0,1``...).

How ``bench run --pin`` starts the server and the generator: the affinity mask set here, before
exec, is inherited by every thread the program starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str]) -> None:
    if len(argv) < 2:  # the CPUs and a program
        raise SystemExit(__doc__)
    cpus, program = argv[0], list(argv[1:])
    os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})
    os.execv(program[0], program)


if __name__ == "__main__":
    main(sys.argv[1:])
