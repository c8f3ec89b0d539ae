"""``gauntlet-sync`` / ``python -m gauntlet_sync``: the gauntlet for CI.

Exit codes: 0 every check passed (or was skipped), 1 a check failed or could not run,
2 usage or configuration error (bad option, missing alembic.ini, unreachable database),
130 interrupted (SIGINT), 143 and 129 ended by SIGTERM and SIGHUP, which end a run as
Ctrl-C does: the run's schemas are dropped, its forked children and embedded server stopped.
Progress goes to stderr, the summary to stdout (to stderr with ``--json``,
which keeps stdout for the JSON report). No output carries the DSN's password.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.engine import URL

from . import __version__, interrupts
from .checks import CHECK_NAMES, DEFAULT_CHECKS
from .config import SAFETY_RULES, GauntletConfig
from .context import ProgressEvent
from .database import DSN_ENV, cleanup_stale, dsn_or_environment
from .dsn import mask, redact, to_url
from .errors import (
    ConfigError,
    DatabaseUnavailableError,
    GauntletError,
    ServerStartError,
)
from .gauntlet import Gauntlet
from .progress import ProgressBars, Reached, result_line
from .report import CheckResult, CheckStarted, Report
from .session import Progress

__all__ = ["DSN_ENV", "ProgressPrinter", "build_parser", "main"]

PROG = "gauntlet-sync"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: errors that mean "the run could not start": fix the setup, not the migrations.
SETUP_ERRORS = (ConfigError, DatabaseUnavailableError, ServerStartError)


def build_parser() -> argparse.ArgumentParser:
    """The command line's options (``gauntlet-sync --help``)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Put an Alembic migration history through the gauntlet of checks "
        "against a real PostgreSQL.",
        epilog=f"checks: {', '.join(CHECK_NAMES)}. Off by default (--check NAME adds one): "
        f"{', '.join(n for n in CHECK_NAMES if n not in DEFAULT_CHECKS)}. Exit codes: 0 passed, "
        "1 a check failed, 2 usage or configuration error, 130 interrupted (128 + the "
        "signal for SIGTERM, SIGHUP). `gauntlet-sync merge-reports OUT IN...` joins the "
        "reports of --shard runs (JSON or JUnit XML) into one.",
    )
    add = parser.add_argument
    add(
        "-c",
        "--config",
        default="alembic.ini",
        metavar="PATH",
        help="the alembic.ini (default: %(default)s)",
    )
    add(
        "--name",
        default="alembic",
        metavar="SECTION",
        help="the ini section holding script_location (default: %(default)s)",
    )
    add(
        "--script-location",
        metavar="PATH",
        help="the migration environment's directory (default: the ini's script_location, "
        "else a migrations directory beside the ini)",
    )
    add(
        "--metadata",
        metavar="MODULE:ATTR",
        help="the models' MetaData, e.g. myapp.models:Base.metadata (default: env.py's "
        "target_metadata)",
    )
    add(
        "--dsn",
        default=None,
        help=f"the PostgreSQL to use (default: ${DSN_ENV}, else an embedded server)",
    )
    add(
        "--only",
        action="append",
        default=[],
        metavar="CHECKS",
        help="run only these checks (comma-separated or repeated)",
    )
    add(
        "--skip",
        action="append",
        default=[],
        metavar="CHECKS",
        help="skip these checks (comma-separated or repeated)",
    )
    add(
        "--check",
        action="append",
        default=[],
        metavar="CHECKS",
        help="also run these checks that are off by default, e.g. offline (comma-separated "
        "or repeated)",
    )
    add(
        "--safety-fail-on",
        type=_rules,
        metavar="RULES",
        help="the safety rules whose findings fail the check, the others are warnings "
        "(comma-separated; 'none': only warnings; default: every rule but enum-add-value)",
    )
    add(
        "--safety-allow",
        action="append",
        type=_allowance,
        default=[],
        metavar="REV:RULES",
        help="let revision REV break these safety rules, e.g. 3f2a:table-rewrite (repeatable)",
    )
    add(
        "--minimum-safety-revision",
        metavar="REV",
        help="safety leaves out this revision and its ancestors (already deployed)",
    )
    add(
        "--step-budget",
        type=_seconds,
        metavar="SECONDS",
        help="a revision's upgrade step slower than this is a safety finding (slow-step)",
    )
    add(
        "--safety-rows",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="safety also runs each revision once more on its tables filled with "
        "generated rows, rolled back (default: on; --no-safety-rows switches it off)",
    )
    add(
        "--isolation",
        choices=("schema", "database"),
        default="schema",
        help="run each check in a throwaway schema (default) or database",
    )
    add(
        "--minimum-downgrade-revision",
        metavar="REV",
        help="do not downgrade below this revision (irreversible history)",
    )
    add(
        "--ignore-table",
        action="append",
        default=[],
        metavar="TABLE",
        help="leave this table out of the comparisons (repeatable)",
    )
    add(
        "--compare-server-default",
        action="store_true",
        help="compare server defaults between models and schema",
    )
    add(
        "--no-parallel",
        action="store_true",
        help="run every check in this process (by default the models checks and the "
        "downgrade run in a forked child beside the stairway)",
    )
    add(
        "--keep-going",
        action="store_true",
        help="walk on after a failing revision and report every failing revision "
        "(stairway, no_trace)",
    )
    add(
        "--lock-timeout",
        type=_timeout,
        default=10.0,
        metavar="SECONDS",
        help="a migration step waiting this long for a lock fails (default: %(default)s; "
        "0: no limit)",
    )
    add(
        "--statement-timeout",
        type=_timeout,
        default=0.0,
        metavar="SECONDS",
        help="a migration statement running this long is cancelled by the server "
        "(default: no limit)",
    )
    add(
        "--step-timeout",
        type=_timeout,
        default=0.0,
        metavar="SECONDS",
        help="a migration step (with its Python) running this long is cancelled from "
        "this side, even when the server does not answer (default: no limit)",
    )
    add(
        "--changed-since",
        metavar="REF",
        help="walk only the revisions whose files changed since this git ref (e.g. "
        "origin/main; working tree included) and those depending on them; a change to "
        "env.py, script.py.mako or the ini walks everything",
    )
    add(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="walk only the I-th of N ranges of about equal cost (e.g. 2/4); the "
        "head-state checks run in shard 1; join the N reports with merge-reports",
    )
    add(
        "--shard-timings",
        metavar="REPORT.json",
        help="with --shard: cut the ranges by the seconds per revision of this earlier "
        "--json report (default: every revision costs the same)",
    )
    add("--json", action="store_true", help="write the report as JSON on stdout")
    add("--junit-xml", metavar="PATH", help="write a JUnit XML report (one testcase per check)")
    add(
        "--cleanup-stale",
        action="store_true",
        help="drop leftovers of killed runs on the database, then exit",
    )
    add(
        "--older-than",
        type=_seconds,
        default=3600.0,
        metavar="SECONDS",
        help="with --cleanup-stale: only leftovers older than this (default: %(default)s)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="report every revision step of the walks"
    )
    add("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds (``nan``, ``inf`` and ``-1`` are refused:
    ``nan`` compares false with everything, so it would let every age through)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds, 0 or more (got {text!r})"
        )
    return value


def _shard(text: str) -> tuple[int, int]:
    """``I/N`` with ``1 <= I <= N`` (``--shard 2/4``)."""
    index, slash, total = text.partition("/")
    try:
        shard = (int(index), int(total))
    except ValueError:
        shard = (0, 0)
    if not slash or not 1 <= shard[0] <= shard[1]:
        raise argparse.ArgumentTypeError(f"must be I/N with 1 <= I <= N, e.g. 2/4 (got {text!r})")
    return shard


def _rules(text: str) -> tuple[str, ...]:
    """``a,b`` -> safety rule ids (``none``: no rule); an unknown one is a usage error."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("none",):
        return ()
    unknown = [n for n in names if n not in SAFETY_RULES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown safety rule(s) {', '.join(unknown)}; the rules: {', '.join(SAFETY_RULES)}"
        )
    return names


def _allowance(text: str) -> tuple[str, tuple[str, ...]]:
    """``REV:rule,rule`` -> (revision, rules)."""
    revision, colon, rules = text.partition(":")
    if not colon or not revision.strip() or not rules.strip():
        raise argparse.ArgumentTypeError(
            f"expected REV:RULES, e.g. 3f2a:table-rewrite (got {text!r})"
        )
    return revision.strip(), _rules(rules)


def _timeout(text: str) -> float:
    """Seconds for a timeout option: finite, 0 or more (0: no limit)."""
    return _seconds(text)


def check_names(parser: argparse.ArgumentParser, option: str, values: list[str]) -> list[str]:
    """``--only a,b --only c`` -> ``[a, b, c]``; an unknown name is a usage error (exit 2)."""
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in CHECK_NAMES]
    if unknown:
        parser.error(
            f"{option}: unknown check(s) {', '.join(unknown)}; "
            f"valid checks: {', '.join(CHECK_NAMES)}"
        )
    return names


class Output:
    """Writes lines to a stream, with the DSN's password scrubbed from every one."""

    def __init__(self, stream: TextIO, secret: URL | str | None) -> None:
        self.stream = stream
        self.secret = secret

    def line(self, text: str) -> None:
        # What the stream cannot encode (a lone surrogate from a migration's message)
        # is written as its escape rather than ending the run in UnicodeEncodeError.
        encoding = getattr(self.stream, "encoding", None) or "utf-8"
        safe = redact(text, self.secret).encode(encoding, "backslashreplace").decode(encoding)
        self.stream.write(safe + "\n")
        self.stream.flush()


class ProgressPrinter:
    """Turns progress events into lines on stderr.

    Each check's start and end are always reported. Walk steps are reported one per line
    with ``verbose`` (each with its own position in the walk); otherwise at most one line
    per ``interval`` seconds, so a long walk shows it is moving without flooding a CI log,
    counting the revisions the walk has reached so far (both halves of a split stairway
    move that count, which never goes back).
    """

    def __init__(
        self,
        out: Output,
        *,
        verbose: bool = False,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.verbose = verbose
        self.interval = interval
        self.clock = clock
        self.last_line = clock()
        self.reached = Reached()

    def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, CheckStarted):
            self._line(f"[{event.name}] started")
        elif isinstance(event, Progress):
            count, _ = self.reached.add(event)
            if self.verbose or self.clock() - self.last_line >= self.interval:
                position = event.index if self.verbose else count
                self._line(
                    f"[{event.walk} {position}/{event.total}] "
                    f"{event.step.label} {event.step.revision}"
                )
        elif isinstance(event, CheckResult):
            self.reached.forget(event.name)
            self._line(self.describe(event))

    @staticmethod
    def describe(result: CheckResult) -> str:
        """The line that ends a check: its status, time and, unless it passed, its summary."""
        return result_line(result)

    def _line(self, text: str) -> None:
        self.out.line(text)
        self.last_line = self.clock()


def run() -> int:
    """The console script and ``python -m gauntlet_sync``: :func:`main`, then a quick exit.

    The process ends right after, so the heap is frozen first: the interpreter's shutdown
    then skips a garbage-collector pass over every SQLAlchemy and alembic object, which
    costs ~0.4 s (benchmarks/RESULTS.md).
    """
    code = main()
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["merge-reports"]:
        from .merge import main as merge_main

        return merge_main(arguments[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
        only = check_names(parser, "--only", args.only)
        skip = check_names(parser, "--skip", args.skip)
        args.check = check_names(parser, "--check", args.check)
    except SystemExit as exc:  # argparse has printed usage and the error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.shard_timings and not args.shard:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: --shard-timings needs --shard I/N", file=sys.stderr)
        return EXIT_USAGE
    if args.junit_xml:
        problem = _unwritable(Path(args.junit_xml))
        if problem:  # found now, not after the whole run
            parser.print_usage(sys.stderr)
            print(f"{PROG}: error: --junit-xml {args.junit_xml}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    dsn = dsn_or_environment(args.dsn)
    secret = _secret_of(dsn)
    err = Output(sys.stderr, secret)
    out = Output(sys.stdout, secret)
    try:
        with quiet_logging(args.verbose), _signals_end_the_run():
            return _run(args, dsn, only, skip, out, err)
    except SETUP_ERRORS as exc:
        _error(err, exc, args.verbose)
        return EXIT_USAGE
    except GauntletError as exc:
        _error(err, exc, args.verbose)
        return EXIT_FAILED
    except Terminated as exc:
        err.line(f"{PROG}: ended by {signal.Signals(exc.signum).name}")
        return 128 + exc.signum
    except KeyboardInterrupt:
        err.line(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # the project's code outside any migration step
        err.line(
            f"{PROG}: error: the project's code called sys.exit({exc.code!r}) outside a "
            "migration step (a prepare= or revision_data callable?); no check could report"
        )
        return EXIT_FAILED


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the run is, so that it unwinds as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def __reduce__(self) -> tuple[object, ...]:
        """As its signal number: a forked child's Terminated comes to its parent pickled."""
        return (Terminated, (self.signum,))


@contextlib.contextmanager
def _signals_end_the_run() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` (a ``KeyboardInterrupt``): the run's
    ``with`` blocks drop its schemas and stop its forked children on the way out, psycopg
    cancels the query under way, and the embedded server is stopped at exit. A second
    signal while that cleanup runs is ignored, so the cleanup can finish. The signal is
    also asked for in :mod:`gauntlet_sync.interrupts`, which the run reads (see
    :func:`_until_signalled`)."""
    fired: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if not fired:
            fired.append(signum)
            interrupts.ask(lambda: Terminated(signum))  # again at the next step or check
            raise Terminated(signum)

    def quiet_pool(record: logging.LogRecord) -> bool:
        """Once the signal came, a pool's error is its doing too: interrupted while it
        ran a query, a connection is left mid-command ('another command is already in
        progress' when the pool rolls it back), a traceback of noise before the run's
        one line."""
        stopping = fired or interrupts.asked()  # asked: a forked child its parent stops
        return not (stopping and record.exc_info) and _no_interrupt_tracebacks(record)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    pool_loggers = _pool_loggers()
    for logger in pool_loggers:
        logger.addFilter(quiet_pool)
    try:
        yield
    finally:
        interrupts.forget()
        for logger in pool_loggers:
            logger.removeFilter(quiet_pool)
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        if fired:
            # Raised inside code that drops what it meets (SQLAlchemy's pool logs and
            # swallows an exception raised while it resets a connection), the Terminated
            # is lost; the run raises it again at its next step or check, or, if none was
            # left, it ends here as the signal asked, 128+signal.
            raise Terminated(fired[0])


def _no_interrupt_tracebacks(record: logging.LogRecord) -> bool:
    """Drop a log record whose exception is an interruption (Ctrl-C, :class:`Terminated`).

    SQLAlchemy's pool logs "Exception during reset or similar" with the traceback of an
    exception raised while it resets a connection, then re-raises it: for a signal that
    ends the run, that traceback is noise before the run's one line."""
    exc_type = record.exc_info[0] if record.exc_info else None
    return not (exc_type is not None and issubclass(exc_type, KeyboardInterrupt))


def _pool_loggers() -> list[logging.Logger]:
    """SQLAlchemy's pool loggers: a filter holds only on the logger a record is made on,
    not on its parents. A pool's logger is made when its first pool is (named for its
    class), which in a run is after the signal handlers are set: made here for every pool
    class, so that the filter is on them (before, only loggers that existed already had
    it, and a session's NullPool printed 'Exception during reset or similar')."""
    from sqlalchemy.pool import Pool

    classes: set[type] = set()
    todo: list[type] = [Pool]
    while todo:
        cls = todo.pop()
        if cls not in classes:
            classes.add(cls)
            todo.extend(cls.__subclasses__())
    names = {
        getattr(cls, "_sqla_logger_namespace", None) or f"{cls.__module__}.{cls.__name__}"
        for cls in classes
    }
    names.update(n for n in logging.root.manager.loggerDict if n.startswith("sqlalchemy.pool"))
    return [logging.getLogger(name) for name in sorted(names)]


@contextlib.contextmanager
def quiet_logging(verbose: bool) -> Iterator[None]:
    """Below ``-v`` only warnings and errors are logged, whatever env.py configures.

    A stock env.py calls ``fileConfig``, which turns alembic's INFO lines (``Running
    upgrade ...``, from two processes at once) on between the progress lines. A logger's
    level does not hold (``fileConfig`` sets it again on every env.py run), so the floor
    is ``logging.disable``, process-wide, which ``fileConfig`` leaves alone; it is lifted
    when the run ends. ``-v`` lets through everything env.py's logging configuration does.
    """
    if verbose:
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


def _run(
    args: argparse.Namespace,
    dsn: str | None,
    only: list[str],
    skip: list[str],
    out: Output,
    err: Output,
) -> int:
    if args.cleanup_stale:  # needs the database only, not the project
        return _cleanup(dsn, args.older_than, out, err)
    config = GauntletConfig(
        alembic_ini=args.config,
        ini_section=args.name,
        script_location=args.script_location,
        metadata=args.metadata,
        isolation=args.isolation,
        minimum_downgrade_revision=args.minimum_downgrade_revision,
        ignore_tables=frozenset(args.ignore_table),
        compare_server_default=args.compare_server_default,
        parallel=not args.no_parallel,
        keep_going=args.keep_going,
        lock_timeout=args.lock_timeout or None,
        statement_timeout=args.statement_timeout or None,
        step_timeout=args.step_timeout or None,
        changed_since=args.changed_since,
        shard=args.shard,
        shard_timings=args.shard_timings,
        extra_checks=tuple(args.check),
        **_safety_settings(args),
    )
    progress = _progress(args, err)
    report_progress = _until_signalled(progress)
    with Gauntlet(dsn, config, progress=report_progress) as gauntlet, _closing(progress):
        if not args.quiet:
            heads = ", ".join(gauntlet.heads()) or "none"
            where = "an embedded PostgreSQL" if dsn is None else gauntlet.target
            err.line(f"{PROG}: {len(gauntlet.revisions())} revisions (heads: {heads}) on {where}")
            if gauntlet.scope is not None:
                scope = gauntlet.scope
                err.line(
                    f"{PROG}: {scope.note}: walking {len(scope.walked)} of "
                    f"{len(gauntlet.revisions())} revisions"
                )
        report = gauntlet.run_all(only or None, skip=skip, raise_on_failure=False)
    # a signal whose exception code dropped: the run ends as the signal asked, and its
    # report, whose failures may be the signal's doing, is not written
    interrupts.check()
    code = EXIT_OK if report.ok else EXIT_FAILED
    return _write_report(report, args, out, err, code)


def _safety_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The GauntletConfig fields of the safety options that were given."""
    settings: dict[str, Any] = {"minimum_safety_revision": args.minimum_safety_revision}
    if args.safety_fail_on is not None:
        settings["safety_fail_on"] = frozenset(args.safety_fail_on)
    allow: dict[str, list[str]] = {}
    for revision, rules in args.safety_allow:
        allow.setdefault(revision, []).extend(rules)
    settings["safety_allow"] = allow
    settings["step_budget"] = args.step_budget
    if args.safety_rows is not None:  # neither flag: GauntletConfig's default (on)
        settings["safety_rows"] = args.safety_rows
    return settings


def _progress(args: argparse.Namespace, err: Output) -> ProgressPrinter | ProgressBars | None:
    """Nothing with ``-q``; every step as a line with ``-v``; bars on a terminal; else lines
    at most once a second (a CI log)."""
    if args.quiet:
        return None
    if not args.verbose and err.stream.isatty():
        return ProgressBars(err)
    return ProgressPrinter(err, verbose=args.verbose)


def _until_signalled(
    progress: ProgressPrinter | ProgressBars | None,
) -> Callable[[ProgressEvent], None] | None:
    """``progress``, without the checks' failures and errors once SIGTERM or SIGHUP came.

    The signal is raised where the run is; where code drops what it meets (SQLAlchemy's
    pool resetting a connection, a rollback that fails on a query cut short: 'another
    command is already in progress'), the run goes on to the next step's or check's start
    (:mod:`gauntlet_sync.interrupts`), and the check under way may end failed by the
    interruption, not by the migrations. Such a line would be printed just before 'ended
    by SIGTERM'; the run's end is that one line."""
    if progress is None:
        return None

    def report(event: ProgressEvent) -> None:
        failed = isinstance(event, CheckResult) and event.status in ("failed", "error")
        if failed and interrupts.asked():
            return
        progress(event)

    return report


@contextlib.contextmanager
def _closing(progress: ProgressPrinter | ProgressBars | None) -> Iterator[None]:
    try:
        yield
    finally:
        if isinstance(progress, ProgressBars):
            progress.close()


def _cleanup(dsn: str | None, older_than: float, out: Output, err: Output) -> int:
    skipped: list[str] = []
    dropped = cleanup_stale(dsn, older_than=older_than, on_skip=skipped.append)
    for name in dropped:
        out.line(f"dropped {name}")
    for reason in skipped:
        err.line(f"{PROG}: skipped {reason}")
    where = "the embedded server" if dsn is None else mask(dsn)
    left = f", {len(skipped)} skipped" if skipped else ""
    err.line(f"{PROG}: {len(dropped)} stale object(s) dropped from {where}{left}")
    return EXIT_OK


def _write_report(
    report: Report, args: argparse.Namespace, out: Output, err: Output, code: int
) -> int:
    """The report on the console first, then the JUnit file; a file that cannot be written
    after all is an error line and exit 2, unless the run already failed (exit 1 stays)."""
    if args.json:
        out.line(report.to_json(indent=2))
    summary = err if args.json else out
    summary.line(str(report))
    if args.junit_xml:
        try:
            _write_atomically(Path(args.junit_xml), redact(report.to_junit_xml(), out.secret))
        except OSError as exc:
            err.line(f"{PROG}: error: cannot write --junit-xml {args.junit_xml}: {exc.strerror}")
            return code if code != EXIT_OK else EXIT_USAGE
    return code


def _unwritable(path: Path) -> str | None:
    """Why a report could not be written to ``path`` (``None``: it can). Creates missing
    parent directories, as the write will; leaves no file behind."""
    if path.is_dir():
        return "is a directory"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create its directory: {exc.strerror}"
    probe = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        probe.touch()
        probe.unlink()
        if path.exists():
            with open(path, "a", encoding="utf-8"):
                pass
    except OSError as exc:
        return f"cannot be written: {exc.strerror}"
    return None


def _write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: never an empty or half a report."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _secret_of(dsn: str | None) -> URL | str | None:
    """What to scrub from the output: the parsed URL's password, else the raw DSN."""
    if dsn is None:
        return None
    try:
        return to_url(dsn)
    except GauntletError:
        return dsn


def _error(err: Output, exc: BaseException, verbose: bool) -> None:
    """One line (``-v`` adds the rest of a multi-line message, e.g. a server log tail)."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    err.line(f"{PROG}: error: {lines[0]}")
    if len(lines) > 1:
        if verbose:
            err.line("\n".join(f"  {line}" for line in lines[1:]))
        else:
            err.line(f"{PROG}: (run with -v for {len(lines) - 1} more line(s) of detail)")
