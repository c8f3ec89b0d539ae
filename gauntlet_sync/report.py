"""Results of a run, and their text, JSON and JUnit renderings.

A :class:`Report` is what :meth:`Gauntlet.run_all <gauntlet_sync.Gauntlet.run_all>` returns:
one :class:`CheckResult` per check, in check order. The same objects are progress events:
:class:`CheckStarted` when a check begins, its :class:`CheckResult` when it ends.
"""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, Literal, get_args

from . import errors
from .errors import CheckFailed, GauntletError
from .scope import WalkScope

#: A check's outcome: ``passed``; ``failed`` (it found a problem in the history);
#: ``skipped`` (nothing to examine, ``reason`` says why); ``error`` (it could not run).
Status = Literal["passed", "failed", "skipped", "error"]
_STATUSES: tuple[str, ...] = get_args(Status)

# What XML 1.0 cannot carry at all, even escaped: C0 controls other than tab, newline and
# carriage return, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` as XML can hold it: a control character becomes its Python escape
    (``\\x1b``), a lone surrogate U+FFFD, so a message from the server or from a
    migration (colour codes, bytes decoded with ``surrogateescape``) never breaks the file."""

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        return "\ufffd" if "\ud800" <= char <= "\udfff" else repr(char)[1:-1]

    return _NOT_XML.sub(replace, text)


#: how many of the slowest steps a report lists.
SLOWEST = 5


def _cell(value: Any) -> str:
    """One value of a per-revision table as text (``-`` for nothing)."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class CheckStarted:
    """A progress event: check ``name`` begins (its :class:`CheckResult` follows)."""

    name: str


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check's verdict, also sent as a progress event when the check ends.

    ``name``
        The check, one of :data:`gauntlet_sync.CHECK_NAMES`.
    ``status``
        ``passed``; ``failed`` (it found a problem in the history); ``skipped`` (nothing
        to examine); ``error`` (it could not run, e.g. the upgrade it needs failed).
    ``seconds``
        Wall-clock time the check took (checks that share a walk share its time).
    ``error``
        The typed error behind ``failed`` and ``error`` (``None`` otherwise).
    ``reason``
        Why it was skipped or could not run (empty when it passed or failed).
    ``warnings``
        What the check noticed that does not fail it (any status), one line each.
    ``per_revision``
        A check's table with a row per revision, as dicts (``safety``: ``revision``,
        ``seconds`` of its first upgrade step, ``locks`` held on tables that existed before
        it, the tables it ``rewrites``, what it ``scans``, the ``index_builds``, and the
        finding ``rules``); empty for the other checks. :attr:`slowest` lists the slowest.

    ``revision``, ``step`` and ``problems`` say where a failed check found what (read from
    its :class:`~gauntlet_sync.CheckFailed`); ``message`` is the whole account and
    ``summary`` its one-line form, as in JUnit's ``message=`` and the CLI's progress line.
    """

    name: str
    status: Status
    seconds: float = 0.0
    error: GauntletError | None = None
    reason: str = ""
    warnings: tuple[str, ...] = ()
    per_revision: tuple[dict[str, Any], ...] = ()

    @property
    def slowest(self) -> list[tuple[str, float]]:
        """The slowest steps of :attr:`per_revision`, ``(revision, seconds)``, slowest first
        (at most :data:`SLOWEST`)."""
        timed = [(str(r["revision"]), float(r["seconds"])) for r in self.per_revision]
        return sorted(timed, key=lambda item: -item[1])[:SLOWEST]

    def per_revision_lines(self) -> list[str]:
        """:attr:`per_revision` as text: the slowest steps, then a row per revision that
        did something (a row whose every list and mapping is empty is counted, not shown)."""
        rows = self.per_revision
        if not rows:
            return []
        slow = ", ".join(f"{rev} {sec:.3f} s" for rev, sec in self.slowest)
        lines = [f"{len(rows)} revision(s); slowest upgrade steps: {slow}"]
        shown = [r for r in rows if any(v for k, v in r.items() if isinstance(v, (list, dict)))]
        if shown:
            keys = list(shown[0])
            table = [keys, *([_cell(r.get(k)) for k in keys] for r in shown)]
            widths = [max(len(row[i]) for row in table) for i in range(len(keys))]
            lines.extend(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                for row in table
            )
        quiet = len(rows) - len(shown)
        if quiet:
            lines.append(f"({quiet} other revision(s): nothing to show but their time)")
        return lines

    @property
    def message(self) -> str:
        """The full account: the error's message, or why it was skipped or could not run."""
        if self.status == "error" and self.reason:
            return self.reason  # says the check could not run, and why
        if self.error is not None:
            return str(self.error)
        return self.reason

    @property
    def revision(self) -> str | None:
        """The revision the failure is at (``None`` if it has none, or nothing failed)."""
        return self.error.revision if isinstance(self.error, CheckFailed) else None

    @property
    def step(self) -> str | None:
        """The walk step that failed (``upgrade``, ``downgrade``, ``re-upgrade``...)."""
        return self.error.step if isinstance(self.error, CheckFailed) else None

    @property
    def problems(self) -> tuple[str, ...]:
        """Every finding of a failed check, one line each (empty when there are none)."""
        return self.error.problems if isinstance(self.error, CheckFailed) else ()

    @property
    def summary(self) -> str:
        """One line: the message's first line, with the first problem when that line is
        only a headline (``...left a trace in 1 revision: <rev>: column t.c left behind``)."""
        lines = self.message.splitlines()
        first = lines[0].strip() if lines else ""
        problems = self.problems if self.status == "failed" else ()
        if problems and problems[0] not in first:
            more = len(problems) - 1
            first = f"{first.rstrip(':')}: {problems[0]}"
            if more:
                first += f" (and {more} more)"
        return first

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; failures add ``error_type``, ``revision``, ``step``, ``problems``."""
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 4),
            "message": self.message,
            "warnings": list(self.warnings),
        }
        if self.error is not None:
            data["error_type"] = type(self.error).__name__
            if isinstance(self.error, CheckFailed):
                data["revision"] = self.revision
                data["step"] = self.step
                data["problems"] = list(self.problems)
        if self.per_revision:
            data["per_revision"] = [dict(r) for r in self.per_revision]
            data["slowest"] = [{"revision": rev, "seconds": sec} for rev, sec in self.slowest]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """The result :meth:`to_dict` wrote, read back (``merge-reports`` reads the shards'
        JSON reports so). The typed error is rebuilt from ``error_type`` with the message,
        revision, step, problems and warnings: a name gauntlet-sync does not know gives
        :class:`~gauntlet_sync.CheckFailed` for ``failed``, :class:`GauntletError` for
        ``error``. What is not such a dict raises ``ValueError``, ``KeyError`` or
        ``TypeError``."""
        status = data["status"]
        if status not in _STATUSES:
            raise ValueError(f"unknown status {status!r}")
        message = str(data.get("message", ""))
        return cls(
            name=str(data["name"]),
            status=status,
            seconds=float(data.get("seconds", 0.0)),
            error=_error_from_dict(status, message, data),
            reason=message if status in ("skipped", "error") else "",
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
            per_revision=tuple(dict(r) for r in data.get("per_revision") or ()),
        )


def _error_from_dict(status: str, message: str, data: Mapping[str, Any]) -> GauntletError | None:
    """The typed error behind a ``failed`` or ``error`` result, by its class name."""
    if status not in ("failed", "error"):
        return None
    found = getattr(errors, str(data.get("error_type", "")), None)
    cls: type[GauntletError] = (
        found
        if isinstance(found, type) and issubclass(found, GauntletError)
        else (CheckFailed if status == "failed" else GauntletError)
    )
    if issubclass(cls, CheckFailed):
        return cls(
            message,
            revision=data.get("revision"),
            step=data.get("step"),
            problems=tuple(data.get("problems") or ()),
            warnings=tuple(data.get("warnings") or ()),
        )
    return cls(message)


@dataclasses.dataclass
class Report:
    """All results of a run; ``str(report)`` is the summary table.

    ``results``
        One :class:`CheckResult` per check run, in :data:`gauntlet_sync.CHECK_NAMES` order.
    ``seconds``
        Wall-clock time of the whole run.
    ``target``
        The database the run used, password masked.
    ``scope``
        The part of the history the walks covered (``changed_since``, ``shard``): which
        revisions were walked, which were not and why; ``None`` when they walked all of it.
    ``revision_seconds``
        The stairway's wall seconds per revision walked (``shard_timings`` reads them back
        from a JSON report to cut shards of equal cost).
    """

    results: list[CheckResult]
    seconds: float = 0.0
    target: str = ""
    scope: WalkScope | None = None
    revision_seconds: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every check passed or was skipped."""
        return all(r.status in ("passed", "skipped") for r in self.results)

    def get(self, name: str) -> CheckResult:
        """The result of check ``name`` (``KeyError`` if it was not run)."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def by_status(self, *statuses: Status) -> list[CheckResult]:
        """The results with any of ``statuses``, in check order."""
        return [r for r in self.results if r.status in statuses]

    def __str__(self) -> str:
        width = max([len(r.name) for r in self.results] + [5])
        lines = [f"{'check'.ljust(width)}  status   seconds"]
        for r in self.results:
            lines.append(f"{r.name.ljust(width)}  {r.status.ljust(7)}  {r.seconds:7.2f}")
        counts = {s: len(self.by_status(s)) for s in ("passed", "failed", "error", "skipped")}
        errors = f"{counts['error']} error" + ("" if counts["error"] == 1 else "s")
        lines.append(
            f"{counts['passed']} passed, {counts['failed']} failed, {errors}, "
            f"{counts['skipped']} skipped in {self.seconds:.2f} s"
        )
        if self.scope is not None:
            lines.extend(self.scope.lines())
        for r in self.results:
            if r.status != "passed" and r.message:
                lines.append("")
                lines.append(f"[{r.status}] {r.name}: {r.message}")
        for r in self.results:
            if r.warnings:
                lines.append("")
                lines.append(f"[warning] {r.name}: {len(r.warnings)} warning(s):")
                lines.extend(f"  - {w}" for w in r.warnings)
        for r in self.results:
            table = r.per_revision_lines()
            if table:
                lines.append("")
                lines.append(f"[{r.name}] per revision: {table[0]}")
                lines.extend(f"  {line}" for line in table[1:])
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (what the CLI's ``--json`` prints)."""
        data: dict[str, Any] = {
            "ok": self.ok,
            "seconds": round(self.seconds, 4),
            "target": self.target,
            "results": [r.to_dict() for r in self.results],
        }
        if self.scope is not None:
            data["scope"] = self.scope.to_dict()
        data["revision_seconds"] = {k: round(v, 4) for k, v in self.revision_seconds.items()}
        return data

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON; ``kwargs`` go to :func:`json.dumps` (e.g. ``indent=2``)."""
        return json.dumps(self.to_dict(), **kwargs)

    def to_junit_xml(self, suite_name: str = "gauntlet-sync") -> str:
        """A JUnit XML document, one ``testcase`` per check; a failure's ``message=`` is its
        :attr:`CheckResult.summary`, its body the whole message."""
        suite = ET.Element(
            "testsuite",
            name=suite_name,
            tests=str(len(self.results)),
            failures=str(len(self.by_status("failed"))),
            errors=str(len(self.by_status("error"))),
            skipped=str(len(self.by_status("skipped"))),
            time=f"{self.seconds:.3f}",
        )
        if self.scope is not None:
            properties = ET.SubElement(suite, "properties")
            ET.SubElement(
                properties,
                "property",
                name="gauntlet.scope",
                value=json.dumps(self.scope.to_dict()),
            )
            ET.SubElement(
                properties,
                "property",
                name="gauntlet.revision_seconds",
                value=json.dumps({k: round(v, 4) for k, v in self.revision_seconds.items()}),
            )
        for r in self.results:
            case = ET.SubElement(
                suite, "testcase", classname=suite_name, name=r.name, time=f"{r.seconds:.3f}"
            )
            message = xml_text(r.message)
            if r.status in ("failed", "error"):
                tag = "failure" if r.status == "failed" else "error"
                element = ET.SubElement(
                    case,
                    tag,
                    message=xml_text(r.summary) or r.status,
                    type=type(r.error).__name__ if r.error else tag,
                )
                element.text = message
            elif r.status == "skipped":
                ET.SubElement(case, "skipped", message=xml_text(r.reason))
            out_lines = [f"warning: {w}" for w in r.warnings]
            table = r.per_revision_lines()
            if table:
                out_lines.append(f"per revision: {table[0]}")
                out_lines.extend(table[1:])
            if out_lines:
                out = ET.SubElement(case, "system-out")
                out.text = xml_text("\n".join(out_lines))
        suites = ET.Element("testsuites")
        suites.append(suite)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)
