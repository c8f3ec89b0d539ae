"""Faults of issue 13, cases 1, 8 and 9: user code calling ``sys.exit()``, the run ended by
SIGTERM, SIGHUP or SIGKILL, and several ``Gauntlet`` objects in threads of one process.

Real processes on real servers: the command line runs as a child process, so that its
exit code, its output pipes and its forked children are the real ones. After each case:
no isolated schema is left on the server and no process the run started is alive.

Named for what it holds, not for one module: issue 13's faults, across the cli, forked
children and threads.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig, MetadataImportError
from gauntlet_sync.report import Report
from tests.histories import catalog
from tests.reliability import (
    PASSWORD,
    child_env,
    child_pids,
    descendants,
    leftovers,
    make_project,
    socket_dsn,
    wait_gone,
)

TRACEBACK = "Traceback (most recent call last)"
A2 = "versions/a2_create_orders.py"
A3 = "versions/a3_add_order_code.py"
A4 = "versions/a4_seed_walk_in_customer.py"


@pytest.fixture
def server() -> Iterator[EmbeddedPostgres]:
    shared = EmbeddedPostgres.shared()
    before = child_pids()
    yield shared
    assert leftovers(shared) == []
    assert wait_gone(child_pids() - before) == set(), "processes left behind"


def _inject(project: Path, relative: str, function: str, code: str) -> None:
    """Put ``code`` first in ``function`` of a revision file (or env.py)."""
    path = project / relative
    text = path.read_text()
    head = f"def {function}() -> None:\n" if function else ""
    if function:
        assert head in text, f"{head!r} not in {path}"
        body = "".join(f"    {line}\n" for line in code.splitlines())
        path.write_text(text.replace(head, head + body, 1))
    else:
        path.write_text(code + "\n" + text)


def _cli(project: Path, dsn: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gauntlet_sync", "-c", str(project / "alembic.ini"), "--dsn", dsn]
        + list(extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=project,
    )


# --- case 1: sys.exit() in user code ---------------------------------------------------------

EXITS = {
    # where: (file, function, exit code of the CLI, words in its output)
    "upgrade": (A2, "upgrade", 1, ("[failed] upgrade", "a1000002", "sys.exit(0)")),
    "downgrade": (A3, "downgrade", 1, ("[failed] stairway", "a1000003", "sys.exit(0)")),
    "env.py": ("env/env.py", "", 2, ("env.py", "failed before any migration ran", "sys.exit(0)")),
}


@pytest.mark.parametrize(
    ("where", "code"), [("upgrade", 0), ("upgrade", 3), ("downgrade", 0), ("env.py", 3)]
)
def test_sys_exit_in_user_code_is_a_typed_failure_never_exit_0(
    where: str, code: int, tmp_path: Path, server: EmbeddedPostgres
) -> None:
    relative, function, expected, words = EXITS[where]
    project = make_project(tmp_path)
    _inject(project, relative, function, f"import sys\nsys.exit({code})")
    result = _cli(project, socket_dsn(server))
    out, err = result.communicate(timeout=120)
    assert result.returncode == expected, out + err
    words = tuple(w.replace("sys.exit(0)", f"sys.exit({code})") for w in words)
    for word in words:
        assert word in out + err, out + err
    assert TRACEBACK not in err and PASSWORD not in out + err
    if expected == 1:  # a report, every check in it
        assert "passed," in out and "failed" in out
    if where == "downgrade":  # downgrade_to_base ran in the forked child, and failed there
        assert "[failed] downgrade_to_base" in out


def test_sys_exit_at_import_of_the_metadata_module(
    tmp_path: Path, server: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path)
    (project / "exiting_models.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.chdir(project)
    config = GauntletConfig(str(project / "alembic.ini"), metadata="exiting_models:x")
    with pytest.raises(MetadataImportError, match="SystemExit"):
        Gauntlet(server.dsn, config)
    sys.modules.pop("exiting_models", None)
    result = _cli(project, socket_dsn(server), "--metadata", "exiting_models:Base.metadata")
    out, err = result.communicate(timeout=60)
    assert result.returncode == 2 and "exiting_models" in err and "SystemExit" in err
    assert TRACEBACK not in err


def test_sys_exit_in_prepare_is_exit_1_with_a_line(
    server: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside a migration step (``prepare=``): the schema is dropped, the CLI says so."""
    from gauntlet_sync import cli

    def prepare(conn: object) -> None:
        sys.exit(0)

    config = GauntletConfig(catalog.ini("clean"), prepare=prepare)
    with Gauntlet(server.dsn, config) as gauntlet, pytest.raises(SystemExit):
        gauntlet.check_upgrade()
    assert leftovers(server) == []
    plain = cli.GauntletConfig  # the CLI has no prepare=: give it one
    monkeypatch.setattr(cli, "GauntletConfig", lambda **kw: plain(**kw, prepare=prepare))
    assert cli.main(["-c", catalog.ini("clean"), "--dsn", server.dsn, "-q"]) == 1
    assert "called sys.exit(0) outside a migration step" in capsys.readouterr().err


# --- case 8: SIGTERM, SIGHUP, SIGKILL ------------------------------------------------------------

SLOW = "import time\ntime.sleep(0.4)"


def _slow_project(root: Path) -> Path:
    """Every step of the clean history takes 0.4 s more: runs long enough to be hit."""
    project = make_project(root)
    for relative in sorted((project / "versions").glob("*.py")):
        for function in ("upgrade", "downgrade"):
            _inject(project, str(relative.relative_to(project)), function, SLOW)
    return project


def _until_stairway(process: subprocess.Popen[str]) -> list[str]:
    """Read stderr until the stairway has begun; the lines read."""
    assert process.stderr is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("[stairway 1/"):
            return lines
    process.kill()
    pytest.fail("the stairway never began:\n" + "".join(lines))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_end_a_run_like_ctrl_c(
    signum: int, tmp_path: Path, server: EmbeddedPostgres
) -> None:
    project = _slow_project(tmp_path)
    process = _cli(project, socket_dsn(server), "-v")
    _until_stairway(process)
    children = descendants(process.pid)  # the forked child working beside the stairway
    os.kill(process.pid, signum)
    started = time.monotonic()
    out, err = process.communicate(timeout=30)  # both pipes closed: nobody holds them
    assert process.returncode == 128 + signum, err
    assert time.monotonic() - started < 20
    assert f"ended by {signal.Signals(signum).name}" in err and TRACEBACK not in err
    assert not _failure_lines(err), err  # what the interruption broke is not a failure
    assert wait_gone(children) == set(), "a forked child outlived the run"
    assert leftovers(server) == []


def _failure_lines(err: str) -> list[str]:
    """The progress lines of checks that ended failed or in error."""
    return [line for line in err.splitlines() if re.match(r"\[[^\]]+\] (failed|error) ", line)]


def test_a_check_broken_by_the_signal_is_not_reported_failed(
    tmp_path: Path, server: EmbeddedPostgres
) -> None:
    """Seen in a fresh-clone CI run: "[stairway] failed ... another command is already in
    progress" just before "ended by SIGTERM". Code that drops the signal's exception (a
    pool's or a rollback's, on a query the signal cut short) lets the run go on with the
    check under way failed by the interruption. Made deterministic: a migration signals
    its own process (no forked child: --no-parallel) and turns the exception into another
    error, once."""
    project = make_project(tmp_path)
    marker = tmp_path / "signalled"
    _inject(
        project,
        A2,
        "upgrade",
        "import os, pathlib, signal, time\n"
        f"if not pathlib.Path({str(marker)!r}).exists():\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(30)\n"
        "    except BaseException:\n"
        "        raise RuntimeError('another command is already in progress') from None",
    )
    process = _cli(project, socket_dsn(server), "--no-parallel")
    out, err = process.communicate(timeout=120)
    assert marker.exists()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "ended by SIGTERM" in err and TRACEBACK not in err
    assert "[upgrade] started" in err  # the progress lines were printed
    assert not _failure_lines(err), err
    assert out == ""  # no report


#: (CLI options, whether a forked child works beside the stairway, the revision file whose
#: upgrade signals, at its nth run in the CLI's process): a2's second is in the stairway (the
#: first: the head upgrade); without safety (whose probe runs an upgrade too), a4's third is
#: the stairway's last step.
DROPPED_MODES = {
    "serial": (("--no-parallel",), False, A2, 2),
    "serial-quiet": (("--no-parallel", "-q"), False, A2, 2),
    "forked": ((), True, A2, 2),
    "forked-quiet": (("-q",), True, A2, 2),
    "forked-quiet-last-step": (("-q", "--skip", "safety"), True, A4, 3),
}


@pytest.mark.parametrize("mode", list(DROPPED_MODES))
def test_a_signal_whose_exception_was_dropped_ends_the_run_at_the_next_step(
    mode: str, tmp_path: Path, server: EmbeddedPostgres
) -> None:
    """Code that drops the signal's exception (a pool's reset, a rollback on a query cut
    short) must not let the run go on through every check left: CI's SIGKILL seconds
    after its SIGTERM would end it midway, schemas left behind. Made deterministic: a
    step of the stairway signals its own process and swallows the exception. No later
    step of that process may run; the forked child, kept busy in downgrade_to_base's
    first step until then, must be stopped, not waited for (also when the signal came in
    the parent's last step: it then waits for the child); nothing is left behind (the
    fixture)."""
    options, forked, signalling, nth = DROPPED_MODES[mode]
    project = make_project(tmp_path)
    count, signalled = tmp_path / "a2_runs", tmp_path / "signalled"
    later, child_busy, child_done = tmp_path / "later", tmp_path / "busy", tmp_path / "done"
    in_cli = "os.getppid() == int(os.environ['TEST_PARENT'])"  # else: the forked child
    _inject(
        project,
        signalling,
        "upgrade",
        "import os, pathlib, signal, time\n"
        f"if {in_cli}:\n"
        f"    count = pathlib.Path({str(count)!r})\n"
        "    runs = int(count.read_text()) + 1 if count.exists() else 1\n"
        "    count.write_text(str(runs))\n"
        f"    if runs == {nth}:\n"
        f"        while {forked} and not pathlib.Path({str(child_busy)!r}).exists():\n"
        "            time.sleep(0.05)\n"
        f"        pathlib.Path({str(signalled)!r}).write_text(str(os.getpid()))\n"
        "        try:\n"
        "            os.kill(os.getpid(), signal.SIGTERM)\n"
        "            time.sleep(30)\n"
        "        except BaseException:\n"
        "            pass  # dropped",
    )
    _inject(
        project,
        A4,
        "downgrade",
        "import os, pathlib, time\n"
        f"if not {in_cli}:\n"
        f"    pathlib.Path({str(child_busy)!r}).touch()\n"
        "    for _ in range(600):\n"
        "        time.sleep(0.1)\n"
        f"    pathlib.Path({str(child_done)!r}).touch()",
    )
    for path in sorted((project / "versions").glob("*.py")):
        for function in ("upgrade", "downgrade"):
            _inject(
                project,
                str(path.relative_to(project)),
                function,
                "import os, pathlib\n"
                f"mark = pathlib.Path({str(signalled)!r})\n"
                "if mark.exists() and mark.read_text() == str(os.getpid()):\n"
                f"    pathlib.Path({str(later)!r}).touch()",
            )
    process = subprocess.Popen(
        [sys.executable, "-m", "gauntlet_sync", "-c", str(project / "alembic.ini")]
        + ["--dsn", socket_dsn(server), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(TEST_PARENT=str(os.getpid())),
        cwd=project,
    )
    out, err = process.communicate(timeout=120)
    assert signalled.exists(), err
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "ended by SIGTERM" in err and TRACEBACK not in err
    assert not later.exists(), "a step ran after the signal:\n" + err
    assert child_busy.exists() == forked, err
    assert not child_done.exists(), "the forked child was waited for, not stopped"
    assert not _failure_lines(err), err
    assert out == ""  # no report
    assert ("[upgrade] started" in err) != ("-q" in options)


def test_a_forked_child_dies_with_its_sigkilled_parent(
    tmp_path: Path, server: EmbeddedPostgres
) -> None:
    project = _slow_project(tmp_path)
    process = _cli(project, socket_dsn(server), "-v")
    _until_stairway(process)
    children = descendants(process.pid)
    assert children, "no forked child beside the stairway"
    process.kill()
    out, err = process.communicate(timeout=10)  # the child held no pipe open
    assert wait_gone(children, seconds=5) == set(), "the forked child ran on alone"
    # The parent could drop nothing: its schemas are named for cleanup_stale.
    left = leftovers(server)
    assert left and all(f"_{process.pid}_" in name for name in left)
    with Gauntlet(server.dsn, GauntletConfig(catalog.ini("clean"))) as gauntlet:
        assert sorted(gauntlet.cleanup_stale(older_than=0)) == left


# --- case 9: Gauntlets in threads -------------------------------------------------------------

THREADED = ("clean", "stairway_fails", "no_trace", "models_drift")


def _statuses(report: Report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


def test_gauntlets_in_threads_give_the_serial_verdicts(server: EmbeddedPostgres) -> None:
    def run(history: str) -> dict[str, str]:
        config = GauntletConfig(catalog.ini(history), metadata=catalog.load_metadata(history))
        with Gauntlet(server.dsn, config) as gauntlet:
            return _statuses(gauntlet.run_all(raise_on_failure=False))

    serial = {history: run(history) for history in THREADED}
    assert serial["clean"] and all(s == "passed" for s in serial["clean"].values())
    assert serial["stairway_fails"]["stairway"] == "failed"
    results: dict[tuple[str, int], dict[str, str] | BaseException] = {}

    def worker(history: str, round_: int) -> None:
        try:
            results[history, round_] = run(history)
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[history, round_] = exc

    threads = [
        threading.Thread(target=worker, args=(history, round_))
        for round_ in range(2)
        for history in THREADED
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(results) == len(threads)
    for (history, _), result in results.items():
        assert result == serial[history], (history, result)
