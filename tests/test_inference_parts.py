"""``core.inference.in_parallel``: parts side by side on the CPU, one intra-op thread each, in order, with the
caller's grad mode and autocast; the thread count and the oneDNN switch of each thread are left as they were."""

import threading

import pytest
import torch

from replab.core import layers
from replab.core.inference import fast_forward, in_parallel


def test_parts_come_back_in_order_with_the_callers_grad_mode_and_one_thread_each():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen, autocast = [], []

        def part(i: int):
            seen.append((threading.get_ident(), torch.get_num_threads(), torch.is_grad_enabled()))
            autocast.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
            return i * i

        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            assert in_parallel([lambda i=i: part(i) for i in range(5)], "cpu") == [0, 1, 4, 9, 16]
        assert all(autocast) and len(autocast) == 5
        assert {threads for _, threads, _ in seen} == {1}
        assert not any(grad for _, _, grad in seen)
        assert threading.get_ident() not in {ident for ident, _, _ in seen}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_one_thread_or_one_part_runs_in_the_caller_and_errors_reach_it():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert in_parallel([threading.get_ident, threading.get_ident], "cpu") == [threading.get_ident()] * 2
    finally:
        torch.set_num_threads(before)
    torch.set_num_threads(2)
    try:
        with pytest.raises(ZeroDivisionError):
            in_parallel([lambda: 1, lambda: 1 / 0], "cpu")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_onednn_switch_is_per_thread():
    inside = {}

    def other_thread():
        inside["other"] = layers._INFERENCE.onednn

    with fast_forward("cpu", enabled=True, bf16=False):
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert layers._INFERENCE.onednn
    assert inside["other"] is False and not layers._INFERENCE.onednn
