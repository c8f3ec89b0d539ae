"""The command line on real PostgreSQL: exit codes, progress, --json, --junit-xml, secrecy.

Most runs call ``cli.main`` in this process (on its embedded server); the README's command,
Ctrl-C and a killed run are real ``python -m gauntlet_sync`` subprocesses.
"""

from __future__ import annotations

import configparser
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from gauntlet_sync import CHECK_NAMES, DEFAULT_CHECKS, EmbeddedPostgres
from gauntlet_sync.cli import Output, ProgressPrinter, main
from gauntlet_sync.dsn import to_url
from gauntlet_sync.report import CheckResult, CheckStarted
from gauntlet_sync.session import Progress, Step
from tests.histories import catalog
from tests.reliability import ROOT, child_env, leftovers, wait_for_password_checks

SHOP = ROOT / "examples" / "shop"
SLOW = ROOT / "tests" / "suites" / "slow_history" / "alembic.ini"


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine(EmbeddedPostgres.shared().url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def clean_slate(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, no_leftovers: None
) -> Iterator[None]:
    """No GAUNTLET_DSN from outside, sys.path/modules restored, and (``no_leftovers``, in
    tests/conftest.py) no schema left behind."""
    monkeypatch.delenv("GAUNTLET_DSN", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    sys.modules.pop("models", None)  # a history's models.py, imported through --metadata


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def spawn(args: list[str], cwd: Path = ROOT, **env: str) -> subprocess.Popen[str]:
    environ = child_env(drop=("GAUNTLET_",), **env)
    return subprocess.Popen(
        [sys.executable, "-m", "gauntlet_sync", *args],
        cwd=cwd,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], pattern: str, seconds: float = 60) -> str:
    """Read stderr until a line matches (the walk reached the slow revision)."""
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    process.kill()
    process.wait()
    raise AssertionError(f"never saw {pattern!r}:\n{''.join(seen)}")


# --- exit codes and output -------------------------------------------------------------------


def test_clean_history_passes_with_progress_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-c", catalog.ini("clean"))
    assert code == 0, err
    assert re.search(r"^check +status +seconds$", out, re.MULTILINE)
    counts = re.search(r"^(\d+) passed, 0 failed, 0 errors, (\d+) skipped", out, re.MULTILINE)
    assert counts and int(counts[1]) + int(counts[2]) == len(DEFAULT_CHECKS), out
    for name in DEFAULT_CHECKS:
        assert f"[{name}] started" in err
        assert re.search(rf"^\[{name}\] (passed|skipped) in \d+\.\d\d s", err, re.MULTILINE)
    assert "[stairway 1/4]" not in err  # fast walks are not narrated without -v
    assert "4 revisions (heads: a1000004)" in err


@pytest.mark.parametrize("flag", ["--no-parallel", "-v"])
def test_every_check_reports_once_forked_or_not(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    """The forked child's progress lines reach stderr through the parent, once each."""
    code, out, err = cli(capsys, "-c", catalog.ini("clean"), flag)
    assert code == 0, err
    for name in DEFAULT_CHECKS:
        assert err.count(f"[{name}] started") == 1, err
        assert len(re.findall(rf"^\[{name}\] (passed|skipped) in", err, re.MULTILINE)) == 1
    downgrades = re.findall(r"^\[downgrade_to_base \d/4\] downgrade", err, re.MULTILINE)
    assert len(downgrades) == (4 if flag == "-v" else 0), err


def test_verbose_reports_every_step_and_quiet_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-c", catalog.ini("clean"), "-v", "--only", "stairway")
    assert code == 0
    steps = re.findall(
        r"^\[stairway (\d)/4\] (upgrade|downgrade|re-upgrade) (a100000\d)$", err, re.M
    )
    assert len(steps) == 12
    assert steps[:3] == [
        ("1", "upgrade", "a1000001"),
        ("1", "downgrade", "a1000001"),
        ("1", "re-upgrade", "a1000001"),
    ]
    code, out, err = cli(capsys, "-c", catalog.ini("clean"), "-q", "--only", "upgrade")
    assert code == 0 and err == "" and "1 passed" in out


def test_progress_lines_are_throttled_without_verbose() -> None:
    now = [0.0]
    stream = io.StringIO()
    printer = ProgressPrinter(Output(stream, None), clock=lambda: now[0])
    printer(CheckStarted("stairway"))
    for index in range(1, 301):  # a 300-revision walk, 0.25 s a step
        now[0] += 0.25
        printer(Progress("stairway", Step(f"r{index:03}", "upgrade", "upgrade"), index, 300))
    printer(CheckResult("stairway", "passed", 75.0))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[stairway] started" and lines[-1] == "[stairway] passed in 75.00 s"
    assert lines[1] == "[stairway 4/300] upgrade r004"
    assert len(lines) == 2 + 75  # one line a second, never silent for longer


def test_models_drift_fails_with_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    os.chdir(Path(catalog.ini("models_drift")).parent)
    try:
        code, out, err = cli(capsys, "--metadata", "models:Base.metadata", "--json")
    finally:
        os.chdir(ROOT)
    assert code == 1
    report = json.loads(out)  # stdout holds nothing but the JSON
    assert set(report) == {"ok", "seconds", "target", "results", "revision_seconds"}
    assert report["ok"] is False and report["target"].startswith("postgresql+psycopg://")
    assert [r["name"] for r in report["results"]] == list(DEFAULT_CHECKS)
    by_name = {r["name"]: r for r in report["results"]}
    drift = by_name["models_match"]
    assert drift["status"] == "failed" and drift["error_type"] == "SchemaDriftError"
    assert "add column orders.note VARCHAR(20)" in drift["message"]
    assert drift["problems"] and all(isinstance(p, str) for p in drift["problems"])
    assert {r["status"] for n, r in by_name.items() if n != "models_match"} == {"passed"}
    assert "[failed] models_match:" in err  # the summary moved to stderr


def test_junit_xml_has_one_testcase_per_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junit = tmp_path / "reports" / "gauntlet.xml"
    code, out, _ = cli(
        capsys, "-c", catalog.ini("upgrade_fails"), "--json", "--junit-xml", str(junit)
    )
    assert code == 1
    results = {r["name"]: r for r in json.loads(out)["results"]}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == list(DEFAULT_CHECKS)
    assert suite.get("tests") == str(len(DEFAULT_CHECKS))
    for case in cases:
        result = results[case.get("name", "")]
        tag = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(result["status"])
        children = [child.tag for child in case]
        assert children == ([tag] if tag else []), case.get("name")
        if tag in ("failure", "error"):
            element = case.find(tag)
            assert element is not None and element.text == result["message"]
            assert element.get("message") == result["message"].splitlines()[0]
    failures = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failures == {"upgrade", "stairway"}
    upgrade = suite.find("testcase[@name='upgrade']/failure")
    assert upgrade is not None and upgrade.get("type") == "UpgradeError"
    assert "c1000002" in upgrade.get("message", "")
    assert suite.get("failures") == "2"


def test_only_and_skip_select_checks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys,
        "-c",
        catalog.ini("clean"),
        "--json",
        "--only",
        "upgrade,models_match",
        "--only",
        "naming",
    )
    assert code == 0
    assert [r["name"] for r in json.loads(out)["results"]] == ["upgrade", "models_match", "naming"]
    code, out, _ = cli(
        capsys,
        "-c",
        catalog.ini("clean"),
        "--json",
        "--skip",
        "stairway",
        "--skip",
        "no_trace,downgrade_to_base",
    )
    names = [r["name"] for r in json.loads(out)["results"]]
    assert code == 0 and names == [
        n for n in DEFAULT_CHECKS if n not in ("stairway", "no_trace", "downgrade_to_base")
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--only", "upgrade,stairways"], "--only: unknown check(s) stairways; valid checks: "),
        (["--skip", "bogus"], "--skip: unknown check(s) bogus; valid checks: "),
        (["--isolation", "table"], "argument --isolation: invalid choice"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = cli(capsys, "-c", catalog.ini("clean"), *args)
    assert code == 2 and out == ""
    assert f"gauntlet-sync: error: {message}" in err
    if "valid checks" in message:
        assert ", ".join(CHECK_NAMES) in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["-c", "no/such/alembic.ini"], "Alembic ini file not found: no/such/alembic.ini"),
        (["--name", "nope"], "Section [nope] not found in"),
        (["--metadata", "no_such_module:Base.metadata"], "Cannot import module 'no_such_module'"),
        (["--minimum-downgrade-revision", "zzz"], "Unknown revision 'zzz'"),
        (["--dsn", "mysql://u:pw@host/db"], "unsupported connection string"),
    ],
)
def test_configuration_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    if args[0] != "-c":
        args = ["-c", catalog.ini("clean"), *args]
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"gauntlet-sync: error: {message}"), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_console_script_entry_point_is_run() -> None:
    """``run`` is ``main`` plus a quick exit (the heap frozen for the shutdown)."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    scripts = setup["options.entry_points"]["console_scripts"].strip()
    assert scripts == "gauntlet-sync = gauntlet_sync.cli:run"
    code = (
        "import sys; from gauntlet_sync.cli import run; "
        "sys.argv[1:] = ['--only', 'nope']; sys.exit(run())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 2, result.stderr
    assert "unknown check" in result.stderr.lower(), result.stderr


def test_installed_console_script_runs() -> None:
    """Where the package is installed (as .ci/run does), `gauntlet-sync` is on the venv's PATH."""
    script = Path(sys.executable).with_name("gauntlet-sync")
    if not script.exists():
        pytest.skip("gauntlet-sync is not installed next to this interpreter (pip install -e .)")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--cleanup-stale" in result.stdout and "--junit-xml" in result.stdout


def test_cleanup_stale_needs_no_project(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(capsys, "-c", str(tmp_path / "missing.ini"), "--cleanup-stale")
    assert code == 0, err
    assert "stale object(s) dropped" in err


# --- secrecy ------------------------------------------------------------------------------------

PASSWORD = "hunter2/S3cret%pw"


@pytest.fixture(scope="module")
def password_server() -> Iterator[EmbeddedPostgres]:
    """A private server on TCP that demands a password (the shared one trusts everyone)."""
    server = EmbeddedPostgres(tcp=True)
    try:
        hba = Path(server.get_data_directory()) / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'")
            conn.execute("SELECT pg_reload_conf()")
        wait_for_password_checks(tcp_dsn(server, "wrong"))
        yield server
    finally:
        server.stop()


def tcp_dsn(server: EmbeddedPostgres, password: str) -> str:
    return f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{server.port}/test"


def assert_secret_absent(password: str, *texts: str) -> None:
    for variant in {password, quote(password, safe=""), quote(password)}:
        for output in texts:
            assert variant not in output


def test_wrong_password_is_a_config_error_without_the_password(
    capsys: pytest.CaptureFixture[str], password_server: EmbeddedPostgres
) -> None:
    wrong = "n0t-the/Right%one"
    code, out, err = cli(
        capsys, "-c", catalog.ini("clean"), "--dsn", tcp_dsn(password_server, wrong), "-v"
    )
    assert code == 2 and out == ""
    assert "password authentication failed" in err
    assert err.startswith(
        "gauntlet-sync: error: Cannot connect to postgresql+psycopg://postgres:***@"
    )
    assert_secret_absent(wrong, err)


def test_password_never_appears_in_any_output(
    capsys: pytest.CaptureFixture[str],
    password_server: EmbeddedPostgres,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    junit = tmp_path / "junit.xml"
    monkeypatch.setenv("GAUNTLET_DSN", tcp_dsn(password_server, PASSWORD))
    code, out, err = cli(
        capsys, "-c", catalog.ini("upgrade_fails"), "-v", "--json", "--junit-xml", str(junit)
    )
    assert code == 1, err  # it ran: the password was right, and one check fails
    assert json.loads(out)["target"].startswith("postgresql+psycopg://postgres:***@127.0.0.1:")
    assert_secret_absent(PASSWORD, out, err, junit.read_text())
    with psycopg.connect(password_server.dsn) as conn:  # and it cleaned up after itself
        left = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'gauntlet%'")
        assert left.fetchall() == []


# --- real processes ---------------------------------------------------------------------------


def test_readme_command_on_the_example_project_with_its_own_server() -> None:
    """README: ``cd examples/shop && python -m gauntlet_sync -c alembic.ini --metadata ...``."""
    process = spawn(["-c", "alembic.ini", "--metadata", "shop.models:Base.metadata"], cwd=SHOP)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert re.search(rf"^{len(DEFAULT_CHECKS)} passed, 0 failed, 0 errors, 0 skipped", out, re.M)
    assert "4 revisions (heads: e2b5f8a9c6d7) on an embedded PostgreSQL" in err


def test_ctrl_c_exits_130_and_leaves_nothing_behind() -> None:
    process = spawn(
        ["-c", str(SLOW), "-v", "--only", "upgrade"], GAUNTLET_DSN=EmbeddedPostgres.shared().dsn
    )
    wait_for_line(process, r"^\[upgrade 2/2\] upgrade w1000002")
    time.sleep(0.3)  # inside pg_sleep
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert err.rstrip().endswith("gauntlet-sync: interrupted") and "Traceback" not in err


def test_cleanup_stale_drops_what_a_killed_run_left(
    capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    process = spawn(
        ["-c", str(SLOW), "-v", "--only", "upgrade"], GAUNTLET_DSN=EmbeddedPostgres.shared().dsn
    )
    wait_for_line(process, r"^\[upgrade 2/2\] upgrade w1000002")
    process.kill()
    process.communicate(timeout=30)
    with engine.connect() as conn:  # the orphaned backend would sleep on, holding its locks
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"
            )
        )
    left = leftovers(EmbeddedPostgres.shared())
    assert len(left) == 1
    code, out, err = cli(capsys, "-c", catalog.ini("clean"), "--cleanup-stale", "--older-than", "0")
    assert code == 0, err
    assert out.splitlines() == [f"dropped {left[0]}"]
    assert "1 stale object(s) dropped" in err
    assert to_url(EmbeddedPostgres.shared().dsn)  # (the fixture checks nothing is left)


def test_an_interruption_the_pool_logs_leaves_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLAlchemy's pool logs the traceback of a Ctrl-C or SIGTERM/SIGHUP raised while it
    resets a connection before it re-raises it (seen in a CI run: 'Exception during reset
    or similar' before 'ended by SIGHUP'): inside a run, that record is dropped; another
    error's is not, and nothing is dropped after the run."""
    from gauntlet_sync.cli import Terminated, _signals_end_the_run

    logger = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
    # made by an earlier CLI run in this process (cli._pool_loggers), a stock env.py's
    # fileConfig run since then (disable_existing_loggers) has disabled it
    monkeypatch.setattr(logger, "disabled", False)
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        with _signals_end_the_run():
            for exc in (Terminated(signal.SIGHUP), KeyboardInterrupt(), RuntimeError("real")):
                try:
                    raise exc
                except BaseException:
                    logger.error("reset failed: %s", type(exc).__name__, exc_info=True)
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            logger.error("after the run", exc_info=True)
    finally:
        logger.removeHandler(handler)
    assert seen == ["reset failed: RuntimeError", "after the run"]


def test_after_a_signal_the_pools_errors_leave_no_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen in a fresh-clone CI run: SIGTERM raised while a step's query ran left its
    connection mid-command, and the pool's rollback of it logged 'Exception during reset
    or similar' with an OperationalError ('another command is already in progress')
    before 'ended by SIGTERM'. Once a signal came, the pool's error records are dropped;
    before it, they are kept."""
    from gauntlet_sync.cli import Terminated, _signals_end_the_run

    logger = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
    # made by an earlier CLI run in this process (cli._pool_loggers), a stock env.py's
    # fileConfig run since then (disable_existing_loggers) has disabled it
    monkeypatch.setattr(logger, "disabled", False)
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    def pool_error(message: str) -> None:
        try:
            raise psycopg.OperationalError("another command is already in progress")
        except psycopg.OperationalError:
            logger.error(message, exc_info=True)

    handler = Keep()
    logger.addHandler(handler)
    try:
        with pytest.raises(Terminated), _signals_end_the_run():
            pool_error("before the signal")
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises here
            except Terminated:
                pass  # lost, as inside the pool; the run still ends by the signal
            pool_error("after the signal")
    finally:
        logger.removeHandler(handler)
    assert seen == ["before the signal"]
