import signal
import subprocess
import sys
import textwrap

import pytest

from revis.atomic import atomic_directory, atomic_file, write_text_atomic


def test_file_replaced_only_on_success(tmp_path):
    target = tmp_path / "out" / "metrics.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_directory_replaced_only_on_success(tmp_path):
    target = tmp_path / "shapes"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "b").write_text("2")
        raise RuntimeError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"]


def test_killed_writer_leaves_no_half_output_and_next_write_cleans_up(tmp_path):
    target = tmp_path / "detection"
    script = textwrap.dedent(f"""
        import time
        from revis.atomic import atomic_directory
        with atomic_directory({str(target)!r}) as tmp:
            (tmp / "000000.jpg").write_bytes(b"x" * 1000)
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()  # nothing half-written at the real name
    assert any(p.name.startswith(".detection.tmp-") for p in tmp_path.iterdir())
    with atomic_directory(target) as tmp:
        (tmp / "ok").write_text("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["detection"]


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    target = tmp_path / "model.pt"
    script = textwrap.dedent(f"""
        import time
        from revis.atomic import atomic_file
        with atomic_file({str(target)!r}) as tmp:
            tmp.write_bytes(b"x" * 1000)
            print("writing", flush=True)
            time.sleep(60)
    """)
    live = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "writing"
        (theirs,) = [p for p in tmp_path.iterdir() if p.name.startswith(".model.pt.tmp-")]
        write_text_atomic(target, "mine")  # a second writer cleans up only temporaries of dead writers
        assert theirs.exists() and target.read_text() == "mine"
    finally:
        live.kill()
        live.wait()
    write_text_atomic(target, "again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
