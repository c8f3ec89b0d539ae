"""Confirm or refute each naming / check_constraints finding of a corpus run (issue 14).

    <venv>/bin/python benchmarks/real/naming_audit.py NAME   (after run.py wrote results/NAME.json)

For every finding line that names a database object (``index X on table T``, ``primary key X
on table T``, ``... named X in the database; the models name it Y``...), looks the object up
in the project's models: if the database name is a name the models themselves give an object
of that table (explicit, or their naming convention rendered and truncated for PostgreSQL),
the finding is a FALSE POSITIVE (the models decided that name); if the models have no object
of that name on that table, it is a GENUINE difference between models and database. Writes
``results/NAME.naming.json`` and prints one line per finding.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import child  # noqa: E402


def model_names(metadata: Any) -> dict[str, set[str]]:
    """table -> every constraint/index name the models give it, as PostgreSQL stores it."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.sql.elements import conv

    dialect = postgresql.dialect()
    prep = dialect.identifier_preparer
    names: dict[str, set[str]] = {}
    for table in metadata.tables.values():
        found = names.setdefault(table.name, set())
        objs = list(table.constraints) + list(table.indexes)
        for obj in objs:
            if obj.name is None:
                continue
            try:
                if hasattr(obj, "columns") and type(obj).__name__ == "Index":
                    rendered = prep.format_index(obj) if obj.name else None
                else:
                    rendered = prep.format_constraint(obj)
            except Exception:  # noqa: BLE001 - fall back to the raw name
                rendered = str(obj.name)
            if rendered:
                found.add(rendered.strip('"'))
            found.add(str(conv(obj.name)) if isinstance(obj.name, str) else str(obj.name))
    return names


MODELS_FINDING = re.compile(
    r"^\s*-\s*(?P<kind>[a-z ]+?) on (?P<table>[\w.]+)\(.*?\) is named (?P<db>\S+) in the "
    r"database; the models name it (?P<model>\S+)"
)
FINDING = re.compile(
    r"^\s*-\s*(?P<kind>index|primary key|foreign key|unique constraint|check constraint|"
    r"unique index|constraint)\s+(?P<name>\S+)\s+on (?:table )?(?P<table>[\w.]+)"
)


def main(name: str) -> int:
    projects = child.load_projects()
    project = projects.PROJECTS[name]
    from gauntlet_sync.config import resolve_metadata

    child.apply_env(project, "postgresql+psycopg:///unused")
    cfg = child.alembic_config(project, None)
    if project.metadata_hook:
        metadata = child.hook(project.metadata_hook)()
    else:
        metadata = resolve_metadata(project.metadata) if project.metadata else None
    if metadata is None:
        print("no metadata configured: cannot audit")
        return 1
    del cfg
    names = model_names(metadata)
    data = json.loads((HERE / "results" / f"{name}.json").read_text())
    out: list[dict[str, Any]] = []
    for result in data.get("report", {}).get("results", []):
        if result["name"] not in ("naming", "check_constraints") or result["status"] != "failed":
            continue
        for line in result.get("problems") or result["message"].splitlines()[1:]:
            line = line if line.lstrip().startswith("-") else f"  - {line}"
            mm = MODELS_FINDING.match(line)
            m = FINDING.match(line)
            verdict = "unparsed"
            if mm:
                known = names.get(mm["table"].split(".")[-1], set())
                if mm["db"] in known:
                    verdict = "FALSE POSITIVE (the models also give the database's name)"
                elif mm["model"] in known:
                    verdict = (
                        "GENUINE (the models name it otherwise; the database name is not theirs)"
                    )
                else:
                    verdict = "CHECK BY HAND (neither name found among the models' explicit names)"
            elif m:
                table = m["table"].split(".")[-1]
                in_models = m["name"] in names.get(table, set())
                verdict = (
                    "FALSE POSITIVE (the models name it so)"
                    if in_models
                    else (
                        "GENUINE (no object of that name in the models' table)"
                        if table in names
                        else "table not in the models"
                    )
                )
            out.append({"check": result["name"], "line": line.strip(), "verdict": verdict})
            print(f"{result['name']}: {line.strip()[:150]}\n    -> {verdict}")
    (HERE / "results" / f"{name}.naming.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
