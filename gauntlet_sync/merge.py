"""``gauntlet-sync merge-reports OUT IN...``: the reports of ``--shard i/n`` runs as one.

Each shard walks its own range of the history and only shard 1 runs the head-state
checks, so the full run's verdict is the union of the shards': per check, ``failed`` if
any shard's failed, else ``error`` if any could not run, else ``passed`` if any passed
(the head checks' skips in shards 2..n stand for shard 1's verdict), else ``skipped``.
The findings of every shard are kept, each message headed by its shard.

A merge is only a verdict when every shard is there: each input must be a shard report
(JSON from ``--json``, or JUnit XML from ``--junit-xml``) of the same ``n`` and the same
history, and shards ``1..n`` must each appear once. Otherwise the merged report still
lists every check, those the missing shards would have judged as ``error``, and the
command exits 2: a missing shard is never a pass.

Exit codes: 0 every check passed or was skipped, 1 a check failed or could not run,
2 bad input (unreadable report, not a shard report, a shard missing or given twice).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checks import CHECK_NAMES, CHECKS, HeadCheck
from .errors import CheckFailed, ConfigError, GauntletError
from .report import CheckResult, Report
from .scope import WalkScope

__all__ = ["ShardReport", "main", "merge", "read_report"]

PROG = "gauntlet-sync merge-reports"
_RANK: dict[str, int] = {"failed": 3, "error": 2, "passed": 1, "skipped": 0}


@dataclasses.dataclass(frozen=True)
class ShardReport:
    """One shard's report as read back: its results, scope and timings."""

    source: str
    results: list[CheckResult]
    scope: WalkScope | None
    seconds: float
    target: str
    revision_seconds: dict[str, float]


# -- reading ----------------------------------------------------------------------------------


def read_report(path: Path) -> ShardReport:
    """A JSON (``--json``) or JUnit XML (``--junit-xml``) report of gauntlet-sync."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        if text.lstrip().startswith("<"):
            return _from_junit(str(path), ET.fromstring(text))
        return _from_json(str(path), json.loads(text))
    except (ValueError, ET.ParseError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not a gauntlet-sync report (JSON from --json or JUnit XML from "
            f"--junit-xml): {type(exc).__name__}: {exc}."
        ) from None


def _from_json(source: str, data: dict[str, Any]) -> ShardReport:
    scope = data.get("scope")
    return ShardReport(
        source,
        [CheckResult.from_dict(r) for r in data["results"]],
        WalkScope.from_dict(scope) if scope else None,
        float(data.get("seconds", 0.0)),
        str(data.get("target", "")),
        {str(k): float(v) for k, v in (data.get("revision_seconds") or {}).items()},
    )


def _from_junit(source: str, root: ET.Element) -> ShardReport:
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        raise ValueError("no <testsuite>")
    properties = {p.get("name"): p.get("value", "") for p in suite.findall("properties/property")}
    scope = properties.get("gauntlet.scope")
    timings = properties.get("gauntlet.revision_seconds")
    results = []
    for case in suite.findall("testcase"):
        data: dict[str, Any] = {"name": case.get("name"), "seconds": case.get("time", "0")}
        failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
        if failure is not None or error is not None:
            element = failure if failure is not None else error
            assert element is not None
            data["status"] = "failed" if failure is not None else "error"
            data["message"] = element.text or element.get("message", "")
            data["error_type"] = element.get("type", "")
        elif skipped is not None:
            data["status"] = "skipped"
            data["message"] = skipped.get("message", "")
        else:
            data["status"] = "passed"
        out = case.findtext("system-out") or ""
        data["warnings"] = [
            line.removeprefix("warning: ") for line in out.splitlines() if line.strip()
        ]
        results.append(CheckResult.from_dict(data))
    return ShardReport(
        source,
        results,
        WalkScope.from_dict(json.loads(scope)) if scope else None,
        float(suite.get("time", "0")),
        "",
        {str(k): float(v) for k, v in json.loads(timings).items()} if timings else {},
    )


# -- merging ------------------------------------------------------------------------------------


def merge(reports: Sequence[ShardReport]) -> tuple[Report, list[str]]:
    """The full run's report from its shards', and the problems with the inputs (empty:
    the merge is the full run's verdict)."""
    problems, total = _shard_problems(reports)
    by_index = {r.scope.shard[0]: r for r in reports if r.scope and r.scope.shard}
    missing = [i for i in range(1, total + 1) if i not in by_index]
    names = [n for n in CHECK_NAMES if any(n in _names(r) for r in reports)]
    names += [n for r in reports for n in _names(r) if n not in names]
    merged: list[CheckResult] = []
    for name in names:
        own = [(i, r) for i, rep in sorted(by_index.items()) for r in rep.results if r.name == name]
        judged_by_shard_1 = isinstance(CHECKS.get(name), HeadCheck)
        absent = (
            [1] if judged_by_shard_1 and 1 in missing else ([] if judged_by_shard_1 else missing)
        )
        merged.append(_merge_one(name, own, absent, total))
    first = reports[0] if reports else None
    scope = _merged_scope(reports, total)
    timings: dict[str, float] = {}
    for report in reports:
        timings.update(report.revision_seconds)
    joined = Report(
        merged,
        seconds=max((r.seconds for r in reports), default=0.0),
        target=first.target if first else "",
        scope=scope,
        revision_seconds=timings,
    )
    return joined, problems


def _names(report: ShardReport) -> list[str]:
    return [r.name for r in report.results]


def _shard_problems(reports: Sequence[ShardReport]) -> tuple[list[str], int]:
    problems: list[str] = []
    totals = set()
    seen: dict[int, str] = {}
    histories = set()
    for report in reports:
        shard = report.scope.shard if report.scope else None
        if shard is None:
            problems.append(f"{report.source} is not the report of a --shard run")
            continue
        totals.add(shard[1])
        if shard[0] in seen:
            problems.append(
                f"shard {shard[0]} of {shard[1]} is given twice ({seen[shard[0]]}, {report.source})"
            )
        seen[shard[0]] = report.source
        assert report.scope is not None
        histories.add(frozenset(report.scope.walked) | frozenset(report.scope.not_walked))
    if len(totals) > 1:
        problems.append(f"the reports come from different shard counts: {sorted(totals)}")
    if len(histories) > 1:
        problems.append("the reports are of different histories (other revisions)")
    total = max(totals, default=0)
    missing = [i for i in range(1, total + 1) if i not in seen]
    if missing:
        problems.append(
            f"shard(s) {', '.join(map(str, missing))} of {total} missing: their revisions "
            "were not judged"
        )
    if not reports:
        problems.append("no reports given")
    return problems, total


def _merge_one(
    name: str, own: list[tuple[int, CheckResult]], absent: list[int], total: int
) -> CheckResult:
    seconds = max((r.seconds for _, r in own), default=0.0)
    warnings = tuple(dict.fromkeys(w for _, r in own for w in r.warnings))
    if absent:
        where = ", ".join(map(str, absent))
        return CheckResult(
            name,
            "error",
            seconds,
            error=GauntletError(f"shard(s) {where} of {total} missing"),
            reason=f"could not run: shard(s) {where} of {total} missing, their part unjudged",
            warnings=warnings,
        )
    if not own:
        return CheckResult(name, "error", 0.0, reason="could not run: in no shard's report")
    status = max((r.status for _, r in own), key=lambda s: _RANK[s])
    chosen = [(i, r) for i, r in own if r.status == status]
    if status in ("passed", "skipped"):
        passed = chosen[0][1]
        reason = passed.reason if status == "skipped" else ""
        return CheckResult(name, status, seconds, reason=reason, warnings=warnings)
    first = chosen[0][1]
    message = "\n".join(f"[shard {i} of {total}] {r.message}" for i, r in chosen)
    if status == "error":
        error = first.error or GauntletError(message)
        return CheckResult(name, "error", seconds, error=error, reason=message, warnings=warnings)
    assert isinstance(first.error, CheckFailed)
    cls = type(first.error)
    problems = [p for _, r in chosen for p in r.problems]
    error = cls(
        message,
        revision=first.error.revision,
        step=first.error.step,
        problems=problems,
        warnings=warnings,
    )
    return CheckResult(name, "failed", seconds, error=error, warnings=warnings)


def _merged_scope(reports: Sequence[ShardReport], total: int) -> WalkScope | None:
    scopes = sorted(
        (r.scope for r in reports if r.scope is not None and r.scope.shard),
        key=lambda s: s.shard or (0, 0),
    )
    if not scopes:
        return None
    walked = tuple(rev for s in scopes for rev in s.walked)
    done = set(walked)
    not_walked: dict[str, str] = {}
    for s in scopes:
        for rev, why in s.not_walked.items():
            if rev not in done and not why.startswith("walked by shard"):
                not_walked.setdefault(rev, why)
    for s in scopes:
        for rev, why in s.not_walked.items():
            if rev not in done and rev not in not_walked:
                not_walked[rev] = f"{why}, whose report is missing"
    return WalkScope(
        walked,
        not_walked,
        scopes[0].unchanged,
        scopes[0].changed_since,
        None,
        f"merged from {len(scopes)} of {total} shards",
    )


# -- the command ------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    """``merge-reports OUT IN...``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Join the JSON or JUnit XML reports of `gauntlet-sync --shard I/N` runs "
        "into the full run's report (OUT: .xml for JUnit XML, else JSON).",
        epilog="Exit codes: 0 passed, 1 a check failed or could not run, 2 bad input "
        "(a shard missing or given twice, a report that is not a shard's).",
    )
    parser.add_argument("out", metavar="OUT", help="the merged report to write")
    parser.add_argument("inputs", metavar="IN", nargs="+", help="every shard's report")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stdout")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        reports = [read_report(Path(p)) for p in args.inputs]
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    report, problems = merge(reports)
    out = Path(args.out)
    text = report.to_junit_xml() if out.suffix.lower() == ".xml" else report.to_json(indent=2)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"{PROG}: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(str(report))
    for problem in problems:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
    if problems:
        return 2
    return 0 if report.ok else 1
