"""Results of a run, and their text, JSON and JUnit renderings."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from typing import Any, Literal

from .errors import CheckFailed, GauntletError

Status = Literal["passed", "failed", "skipped", "error"]


@dataclasses.dataclass(frozen=True)
class CheckStarted:
    """Reported when a check begins (progress)."""

    name: str


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check's verdict. ``reason`` says why it was skipped or could not run."""

    name: str
    status: Status
    seconds: float = 0.0
    error: GauntletError | None = None
    reason: str = ""

    @property
    def message(self) -> str:
        if self.status == "error" and self.reason:
            return self.reason  # says the check could not run, and why
        if self.error is not None:
            return str(self.error)
        return self.reason

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 4),
            "message": self.message,
        }
        if self.error is not None:
            data["error_type"] = type(self.error).__name__
            if isinstance(self.error, CheckFailed):
                data["revision"] = self.error.revision
                data["step"] = self.error.step
                data["problems"] = list(self.error.problems)
        return data


@dataclasses.dataclass
class Report:
    """All results of a run, in check order."""

    results: list[CheckResult]
    seconds: float = 0.0
    target: str = ""  # the masked DSN the run used

    @property
    def ok(self) -> bool:
        return all(r.status in ("passed", "skipped") for r in self.results)

    def get(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def by_status(self, *statuses: Status) -> list[CheckResult]:
        return [r for r in self.results if r.status in statuses]

    def __str__(self) -> str:
        width = max([len(r.name) for r in self.results] + [5])
        lines = [f"{'check'.ljust(width)}  status   seconds"]
        for r in self.results:
            lines.append(f"{r.name.ljust(width)}  {r.status.ljust(7)}  {r.seconds:7.2f}")
        counts = {s: len(self.by_status(s)) for s in ("passed", "failed", "error", "skipped")}
        lines.append(
            f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} error, "
            f"{counts['skipped']} skipped in {self.seconds:.2f} s"
        )
        for r in self.results:
            if r.status != "passed" and r.message:
                lines.append("")
                lines.append(f"[{r.status}] {r.name}: {r.message}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 4),
            "target": self.target,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def to_junit_xml(self, suite_name: str = "gauntlet-sync") -> str:
        suite = ET.Element(
            "testsuite",
            name=suite_name,
            tests=str(len(self.results)),
            failures=str(len(self.by_status("failed"))),
            errors=str(len(self.by_status("error"))),
            skipped=str(len(self.by_status("skipped"))),
            time=f"{self.seconds:.3f}",
        )
        for r in self.results:
            case = ET.SubElement(
                suite, "testcase", classname=suite_name, name=r.name, time=f"{r.seconds:.3f}"
            )
            if r.status in ("failed", "error"):
                tag = "failure" if r.status == "failed" else "error"
                first_line = r.message.splitlines()[0] if r.message else r.status
                element = ET.SubElement(
                    case, tag, message=first_line, type=type(r.error).__name__ if r.error else tag
                )
                element.text = r.message
            elif r.status == "skipped":
                ET.SubElement(case, "skipped", message=r.reason)
        suites = ET.Element("testsuites")
        suites.append(suite)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)
