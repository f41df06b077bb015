"""Jobs on worker processes return what the same jobs return in this process, in job order."""

import pytest

from revis.workers import run_jobs


def _scaled(shared, value, power):
    return shared * value**power


def _plain(value):
    return -value


def test_inline_jobs_keep_their_order_and_get_the_shared_value():
    assert run_jobs(_scaled, [(1, 2), (2, 2), (3, 1)], workers=1, shared=10) == [10, 40, 30]
    assert run_jobs(_plain, [(1,), (2,)], workers=1) == [-1, -2]


@pytest.mark.integration
def test_worker_processes_return_the_same_results_in_job_order():
    jobs = [(v, p) for v in range(6) for p in (1, 2)]
    assert run_jobs(_scaled, jobs, workers=2, shared=3) == run_jobs(_scaled, jobs, workers=1, shared=3)
    assert run_jobs(_plain, [(4,), (5,)], workers=2) == [-4, -5]
    # the largest jobs go first, the results still come back in job order
    assert run_jobs(_plain, [(1,), (9,), (3,)], workers=2, cost=lambda job: job[0], threads=1) == [-1, -9, -3]
