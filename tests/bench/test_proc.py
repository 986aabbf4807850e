"""What the benchmark reads from ``/proc``: run-queue waits summed over a process's threads."""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

from bench._proc import CpuWait, cpu_wait
from bench.cluster import _table


def _slices_of(tid: int) -> int:
    return int(Path(f"/proc/{os.getpid()}/task/{tid}/schedstat").read_text().split()[2])


def test_cpu_wait_sums_every_thread_of_the_process() -> None:
    release = threading.Event()
    started = threading.Barrier(4)

    def park() -> None:
        started.wait()
        release.wait()

    threads = [threading.Thread(target=park) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        started.wait()
        main_only = _slices_of(threading.get_native_id())
        whole = cpu_wait(os.getpid())
        assert whole.slices >= main_only + 3  # each parked thread ran at least once
        assert whole.waited_s >= 0.0
    finally:
        release.set()
        for thread in threads:
            thread.join()


def test_cpu_waits_subtract_and_add() -> None:
    later, earlier = CpuWait(0.5, 30), CpuWait(0.25, 10)
    assert later - earlier == CpuWait(0.25, 20)
    assert earlier + earlier == CpuWait(0.5, 20)


def test_cluster_table_reports_the_wait_per_wake_up() -> None:
    def result(wait_s: float, slices: int) -> dict[str, object]:
        return {
            "deliveries_per_s": 1000.0, "p50_us": 1000.0, "p99_us": 2000.0, "cross_deliveries": 0,
            "cross_p99_us": 0.0, "send_lag_p99_us": 0.0, "server_cpu_us_per_delivery": 1.0,
            "server_wait_s": wait_s, "server_slices": slices, "loadgen_wait_s": 0.001, "loadgen_slices": 10,
        }  # fmt: skip

    args = argparse.Namespace(shape="10x10", backend="select", repeat=1, setups=["server"])
    table = _table(args, 0.0, {"server": [result(0.02, 100)]})
    row = table.splitlines()[-1]
    assert "| 200, 100 |" in row  # 20 ms over 100 wake-ups; 1 ms over 10
