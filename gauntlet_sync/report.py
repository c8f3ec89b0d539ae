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
from typing import Any, Literal

from .errors import CheckFailed, GauntletError
from .scope import WalkScope

#: A check's outcome: ``passed``; ``failed`` (it found a problem in the history);
#: ``skipped`` (nothing to examine, ``reason`` says why); ``error`` (it could not run).
Status = Literal["passed", "failed", "skipped", "error"]

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
        return data


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
            if r.warnings:
                out = ET.SubElement(case, "system-out")
                out.text = xml_text("\n".join(f"warning: {w}" for w in r.warnings))
        suites = ET.Element("testsuites")
        suites.append(suite)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)
