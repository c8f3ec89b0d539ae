"""A server object that outlives gauntlet-sync's modules at interpreter exit (held by a
module imported earlier, as pytest holds a test's fixtures) ends quietly: it was stopped
at exit, and testing.postgresql's "failed to shutdown the server automatically" is not
printed for it (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.reliability import ROOT, child_env, child_pids, wait_gone

HELD_TILL_EXIT = textwrap.dedent(
    """
    import re  # imported before gauntlet-sync: its module is cleared after ours at exit
    from gauntlet_sync import EmbeddedPostgres
    stopped = EmbeddedPostgres()
    stopped.stop()
    running = EmbeddedPostgres()
    re._held = [stopped, running]  # the second is stopped at exit
    print(running.pid, running.base_dir, flush=True)
    """
)


def test_servers_held_until_interpreter_exit_end_quietly() -> None:
    before = child_pids()
    done = subprocess.run(
        [sys.executable, "-c", HELD_TILL_EXIT],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "failed to shutdown" not in done.stderr, done.stderr
    assert done.stderr.strip() == "", done.stderr
    pid, base_dir = done.stdout.split()
    assert wait_gone({int(pid)}) == set()
    assert not os.path.exists(base_dir)
    assert wait_gone(child_pids() - before) == set()
