"""Processes that open a new SQLite store at the same moment (a stage's agent, a reader, ``make ui``).

Without the creation lock MLflow's migrations interleave and the store is broken for good: 4 of 6
concurrent pairs here failed, and every later open failed too ("table _alembic_tmp_tags already
exists"). CI met it as a run missing from a store that a test polled while the agent created it.
"""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

OPEN = textwrap.dedent(
    """
    import sys, time
    from revis.tracking.store import mlflow_client

    while time.time() < float(sys.argv[2]):  # start together
        time.sleep(0.005)
    mlflow_client(sys.argv[1]).create_experiment(f"opened-by-{sys.argv[3]}")
    """
)


def test_three_processes_creating_one_store_at_once_leave_it_usable(tmp_path):
    import time

    from revis.tracking.store import mlflow_client

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    start = time.time() + 6  # after the three have imported revis and MLflow
    openers = [
        subprocess.Popen([sys.executable, "-c", OPEN, uri, str(start), str(i)], stderr=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in openers]
    assert [p.returncode for p in openers] == [0, 0, 0], errors
    names = {e.name for e in mlflow_client(uri).search_experiments()}
    assert {"opened-by-0", "opened-by-1", "opened-by-2"} <= names
