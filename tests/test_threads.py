"""The CPU thread policy (hourglass.threads): one thread for small models, the caller's setting as
the ceiling and restored afterwards, the user's override, and the other processes' load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hourglass as hg
from hourglass import threads as policy


@pytest.fixture(autouse=True)
def automatic_policy(monkeypatch):
    """conftest.py fixes HOURGLASS_THREADS=1 for the suite; these tests test the policy itself."""
    monkeypatch.delenv("HOURGLASS_THREADS", raising=False)


@pytest.fixture
def two_threads():
    """Run the test with torch at two threads (this machine's count), whatever ran before."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _threads_seen():
    seen = []
    return seen, lambda epoch, history, model: seen.append(torch.get_num_threads())


def test_a_small_model_trains_and_scores_on_one_thread_and_the_setting_comes_back(ecg, two_threads, monkeypatch):
    monkeypatch.setattr(policy, "cpu_limit", lambda: 2)
    seen, callback = _threads_seen()
    model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0)
    assert policy.work_per_op(model, 512) < policy.SMALL_OP_MACS
    hg.fit(model, ecg.x_train, epochs=2, batch_size=512, callbacks=[callback], progress=False)
    assert seen == [1, 1] and torch.get_num_threads() == 2
    scored = []
    real = model.forward
    monkeypatch.setattr(model, "forward", lambda x: scored.append(torch.get_num_threads()) or real(x))
    hg.Detector(model, score="mae", batch_size=256).fit(ecg.x_train)
    assert policy.work_per_op(model, 256) < policy.SMALL_OP_MACS
    assert set(scored) == {1} and torch.get_num_threads() == 2


def test_a_larger_model_takes_the_cpus_other_processes_leave_idle(fashion_small, two_threads, monkeypatch):
    monkeypatch.setattr(policy, "cpu_limit", lambda: 2)
    conv = hg.create_model("conv", input_shape=(1, 28, 28), seed=0)
    assert policy.work_per_op(conv, 128) > policy.SMALL_OP_MACS
    x = fashion_small[0][:512]
    busy = iter([0, 1, 1, 0])  # at the start, then after each epoch
    monkeypatch.setattr(policy._LOAD, "cpus_taken", lambda: next(busy))
    seen, callback = _threads_seen()
    hg.fit(conv, x, epochs=3, batch_size=128, callbacks=[callback], progress=False)
    assert seen == [2, 1, 1]  # a neighbour started during the first epoch
    assert torch.get_num_threads() == 2


def test_the_callers_setting_is_a_ceiling_and_is_restored_after_an_error(fashion_small, two_threads):
    conv = hg.create_model("conv", input_shape=(1, 28, 28), seed=0)
    x = fashion_small[0][:256]
    seen, callback = _threads_seen()
    torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 or threadpoolctl's limits would
    hg.fit(conv, x, epochs=1, batch_size=128, callbacks=[callback], progress=False)
    assert seen == [1] and torch.get_num_threads() == 1
    torch.set_num_threads(2)

    def fail(epoch, history, model):
        raise RuntimeError("a callback failed")

    with pytest.raises(RuntimeError, match="a callback failed"):
        hg.fit(conv, x, epochs=1, batch_size=128, callbacks=[fail], progress=False, threads=1)
    assert torch.get_num_threads() == 2


def test_threadpoolctl_limits_reach_the_policy(fashion_small, two_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen, callback = _threads_seen()
    conv = hg.create_model("conv", input_shape=(1, 28, 28), seed=0)
    with threadpoolctl.threadpool_limits(1):
        hg.fit(conv, fashion_small[0][:256], epochs=1, batch_size=128, callbacks=[callback], progress=False)
    assert seen == [1]


def test_a_fixed_count_from_the_option_the_estimator_or_the_environment(ecg, two_threads, monkeypatch):
    monkeypatch.setattr(policy, "cpu_limit", lambda: 2)
    seen, callback = _threads_seen()
    small = hg.create_model("stacked", input_shape=(140,), seed=0)
    hg.fit(small, ecg.x_train, epochs=1, batch_size=512, callbacks=[callback], progress=False, threads=np.int64(2))
    monkeypatch.setenv("HOURGLASS_THREADS", "2")
    hg.fit(small, ecg.x_train, epochs=1, batch_size=512, callbacks=[callback], progress=False)
    monkeypatch.setenv("HOURGLASS_THREADS", "auto")
    hg.fit(small, ecg.x_train, epochs=1, batch_size=512, callbacks=[callback], progress=False)
    assert seen == [2, 2, 1]
    monkeypatch.setattr(policy, "cpu_limit", lambda: 1)  # never more than the CPUs the process may use
    hg.fit(small, ecg.x_train, epochs=1, batch_size=512, callbacks=[callback], progress=False, threads=8)
    assert seen[-1] == 1
    monkeypatch.setattr(policy, "cpu_limit", lambda: 2)
    # an estimator's threads= holds for its training and for its scoring
    est = hg.AutoencoderDetector(epochs=2, min_steps=None, n_models=1, random_state=0, threads=2)
    torch.set_num_threads(1)
    used = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: used.append(n) or real(n))
    est.fit(ecg.x_train[:200])
    est.score_samples(ecg.x_test[:50])
    assert used == [2, 1, 2, 1]  # two threads for the fit and for the scoring, the caller's one between


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "two"])
def test_a_bad_count_is_a_clear_error(bad, ecg, monkeypatch):
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    with pytest.raises(hg.InvalidInputError, match="threads must be 'auto' or a whole number"):
        hg.fit(model, ecg.x_train[:32], epochs=1, threads=bad, progress=False)
    with pytest.raises(hg.InvalidInputError, match="threads must be"):
        hg.SeriesDetector(threads=bad).fit(np.sin(np.arange(600) / 5))
    monkeypatch.setenv("HOURGLASS_THREADS", "many")
    with pytest.raises(hg.InvalidInputError, match="HOURGLASS_THREADS must be a whole number >= 1 or 'auto'"):
        hg.fit(model, ecg.x_train[:32], epochs=1, progress=False)


def test_measuring_the_work_leaves_the_random_state_and_the_mode_alone(fashion_small):
    vae = hg.create_model("conv-vae", input_shape=(1, 28, 28), seed=0)
    vae.train()
    state = torch.random.get_rng_state()
    work = policy.work_per_op(vae, 32)
    assert torch.equal(state, torch.random.get_rng_state()) and vae.training
    assert work > policy.work_per_op(hg.create_model("vae", input_shape=(1, 28, 28), seed=0), 32)
    # a model whose forward needs labels is counted without a forward pass
    cvae = hg.create_model("cvae", input_shape=(1, 28, 28), n_classes=10, seed=0)
    assert policy.work_per_op(cvae, 32) > 0


def test_the_cpus_the_process_may_use(monkeypatch):
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert policy.cpu_limit() == 1
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(policy, "_cgroup_quota", lambda: 1.5)
    assert policy.cpu_limit() == 2
    monkeypatch.setattr(policy, "_cgroup_quota", lambda: None)
    assert policy.cpu_limit() == 4


def test_other_processes_cpu_time_counts_and_our_own_does_not(monkeypatch):
    load = policy._OtherLoad()
    samples = iter(
        [
            (10.0, 100.0, 5.0),  # (monotonic seconds, busy CPU seconds of our CPUs, our process's CPU seconds)
            (11.0, 101.9, 6.9),  # one second: 1.9 CPU-seconds busy, all of them ours
            (12.0, 103.9, 7.9),  # one second: 2.0 busy, 1.0 ours -> another process held a CPU
            (12.01, 104.0, 7.95),  # too short a look: the last reading stands
        ]
    )
    monkeypatch.setattr(load, "_sample", lambda: next(samples))
    load.last = load._sample()
    assert [load.cpus_taken(), load.cpus_taken(), load.cpus_taken()] == [0, 1, 1]


def test_which_environments_fix_glibcs_malloc_thresholds():
    from hourglass.allocator import GLIBC_DEFAULTS, fixed_thresholds

    assert fixed_thresholds({}) is None  # glibc adapts: nothing to do
    assert fixed_thresholds({"MALLOC_TRIM_THRESHOLD_": "65536"}) == {  # a Dask worker
        "mmap_threshold": GLIBC_DEFAULTS["mmap_threshold"],
        "trim_threshold": 65536,
    }
    assert fixed_thresholds({"MALLOC_MMAP_THRESHOLD_": "262144"})["mmap_threshold"] == 262144
    assert fixed_thresholds({"GLIBC_TUNABLES": "glibc.malloc.top_pad=0"}) == GLIBC_DEFAULTS
    assert fixed_thresholds({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=4096"})["trim_threshold"] == 4096
    assert fixed_thresholds({"GLIBC_TUNABLES": "glibc.rtld.nns=2", "MALLOC_CHECK_": "3"}) is None


_FAULTS = """
import resource, torch
from hourglass.threads import ThreadPolicy

def faults(floats=262144, times=300):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):  # a step's pattern: the same 1 MB blocks allocated, written and freed
        torch.empty(floats).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()
outside = faults()
with ThreadPolicy(threads=1):
    inside = faults()
# 8 MB blocks afterwards: larger than any free chunk the run left inside the heap (which glibc
# reuses whatever the threshold), so they show the threshold itself
print(outside, inside, faults(2 * 1024 * 1024, 100))
"""


@pytest.mark.skipif(not __import__("hourglass.allocator").allocator._glibc(), reason="glibc's malloc only")
def test_a_policy_keeps_large_blocks_on_the_heap_where_the_environment_fixed_mallocs_thresholds():
    # Dask starts every worker with MALLOC_TRIM_THRESHOLD_, which pins glibc's mmap threshold at
    # 128 KiB: each 1 MB tensor is then a fresh mmap whose 256 pages fault in again
    import subprocess
    import sys

    env = {**__import__("os").environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True, check=True)
    outside, inside, after = map(int, out.stdout.split())
    assert outside > 300 * 200  # the pinned threshold: every block faults in anew
    assert inside < outside / 10
    assert after > 100 * 1500  # and the process's own setting is back afterwards
