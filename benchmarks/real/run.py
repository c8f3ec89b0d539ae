"""Run gauntlet-sync on real PyPI projects' Alembic histories, and cross-check its verdicts.

    python benchmarks/real/run.py [--install] [--no-reference] [--full-reference]
                                  [--no-parallel] [PROJECT ...]

Run it with this checkout's venv (it needs ``gauntlet_sync.server`` for the reference server).
Each project (``projects.py``) lives in its own venv, ``$REAL_VENVS/<name>`` (default
``/work/real-venvs``), outside the repository: ``--install`` (or a missing venv) creates it,
pip-installs the project and then this checkout (editable) into it. Nothing is installed into
this project's own dependencies.

Per project:

1. ``child.py run`` in the project's venv: ``run_all(raise_on_failure=False)`` on the embedded
   server, every check, with the project's settings -> ``results/<name>.json``.
2. The reference: every failing revision of ``upgrade``, ``stairway``, ``downgrade_to_base``
   and ``no_trace`` is replayed as SEPARATE ``alembic`` commands (one fresh process and a
   fresh ``Config`` each) on a fresh database of a private server this script starts and
   stops; no_trace compares ``pg_dump --schema-only`` before the upgrade and after the
   downgrade. ``models_match`` is replayed as ``alembic check`` at the heads.
   ``--full-reference`` replays the whole stairway that way (3 commands per revision) to
   catch failures gauntlet-sync misses, not only the ones it reports.
3. ``results/<name>.json`` gets the reference's verdicts, and whether they agree.

``RESULTS.md``'s table (between its ``<!-- table -->`` markers) is regenerated from all
``results/*.json``; the rest of RESULTS.md is written by hand.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENVS = Path(os.environ.get("REAL_VENVS", "/work/real-venvs"))
RESULTS = HERE / "results"
PG_DUMP = os.environ.get("PG_DUMP", "/usr/lib/postgresql/15/bin/pg_dump")


def load_projects() -> Any:
    spec = importlib.util.spec_from_file_location("corpus_projects", HERE / "projects.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["corpus_projects"] = module
    spec.loader.exec_module(module)
    return module


def py(name: str) -> str:
    return str(VENVS / name / "bin" / "python")


def install(project: Any) -> None:
    venv = VENVS / project.name
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [py(project.name), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *project.pip], check=True)
    subprocess.run([*pip, "-e", str(REPO)], check=True)


def library_env() -> dict[str, str]:
    """The environment of a project's run_all: this checkout's library first on the path.

    Each venv has *an* editable install of gauntlet-sync, but of whichever checkout ran
    ``--install`` (a worktree long gone stale, say): without this, the corpus would
    test that one, whatever commit the table names."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def describe_checkout() -> str:
    """``git describe`` of the checkout the runs import (:func:`library_env`), with
    ``-dirty`` when its ``gauntlet_sync/`` differs from that commit (uncommitted or
    untracked files; the corpus's own results files, which every run rewrites, do not
    count)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("describe", "--always", "--abbrev=10")
    if not commit:
        return "unknown (not a git checkout)"
    return commit + ("-dirty" if git("status", "--porcelain", "--", "gauntlet_sync") else "")


def check_library(name: str, data: dict[str, Any]) -> None:
    """Fail unless the run imported this checkout's gauntlet_sync (child.py records it)."""
    used = data.get("library")
    if used != str((REPO / "gauntlet_sync").resolve()):
        raise SystemExit(f"{name}: run_all imported gauntlet_sync from {used}, not from {REPO}")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the reference: separate alembic commands ------------------------------------------------


class Reference:
    """A private server; each replay gets a fresh database on it."""

    def __init__(self, fresh_processes: bool = False) -> None:
        import tempfile

        from gauntlet_sync.server import EmbeddedPostgres

        self.fresh_processes = fresh_processes
        self.serving: tuple[tuple[str, str], subprocess.Popen[str]] | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="corpus-ref-"))
        self.pg = EmbeddedPostgres()
        self.pg.start()
        self.count = 0

    def close(self) -> None:
        import shutil

        self.stop_server()
        self.pg.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fresh_db(self, project: str | None = None) -> tuple[str, str]:
        """(SQLAlchemy URL, libpq conninfo) of a new empty database."""
        import psycopg
        from psycopg import sql

        self.count += 1
        name = f"ref_{os.getpid()}_{self.count}"
        with psycopg.connect(self.pg.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        host, port = str(self.pg.socket_dir), self.pg.port
        url = f"postgresql+psycopg://postgres@/{name}?host={host}&port={port}"
        if project is not None and load_projects().PROJECTS[project].prepare:
            done = self.alembic(project, url, "prepare")
            if not done["ok"]:
                raise RuntimeError(f"prepare hook failed: {done['error']}")
        return url, f"host={host} port={port} user=postgres dbname={name}"

    def alembic(self, project: str, url: str, command: str, target: str = "") -> dict[str, Any]:
        """ONE alembic command in a fresh process: forked from the database's server process
        (``child.py serve``: the project imported, nothing else done) or, with
        ``--fresh-processes``, a new interpreter (``child.py alembic``)."""
        if self.fresh_processes:
            out = subprocess.run(
                [py(project), str(HERE / "child.py"), "alembic", project, url, command, target],
                capture_output=True,
                text=True,
                cwd=str(VENVS / project),
            )
            text, failed, err = out.stdout, out.returncode != 0, out.stderr
        else:
            server = self.server(project, url)
            path = self.tmp / f"cmd{self.count}_{time.monotonic_ns()}.json"
            assert server.stdin is not None and server.stdout is not None
            request = {"command": command, "target": target, "out": str(path)}
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            while (line := server.stdout.readline()) and line.strip() != "done":
                pass
            text = path.read_text() if path.exists() else ""
            failed, err = not line, (self.tmp / "serve.err").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith("{")]
        if failed or not lines:
            return {"ok": False, "error": f"child crashed: {err[-2000:]}", "last_step": ""}
        result: dict[str, Any] = json.loads(lines[-1])
        result["command"] = f"alembic {command} {target}".strip()
        return result

    def server(self, project: str, url: str) -> subprocess.Popen[str]:
        """The fork server for ``url`` (one per fresh database: env.py and the project's
        settings read the URL at import)."""
        if self.serving is not None and self.serving[0] == (project, url):
            return self.serving[1]
        self.stop_server()
        proc = subprocess.Popen(
            [py(project), str(HERE / "child.py"), "serve", project, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.tmp / "serve.err", "w"),
            text=True,
            cwd=str(VENVS / project),
        )
        self.serving = ((project, url), proc)
        return proc

    def stop_server(self) -> None:
        if self.serving is not None:
            proc = self.serving[1]
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)
            self.serving = None

    def dump(self, conninfo: str) -> list[str]:
        out = subprocess.run(
            [PG_DUMP, "--schema-only", "--no-owner", "--no-privileges", "-d", conninfo],
            capture_output=True,
            text=True,
            check=True,
        )
        lines = []
        skip = False
        for line in out.stdout.splitlines():
            # alembic_version exists after a downgrade to base but not before the upgrade.
            if "alembic_version" in line:
                skip = line.rstrip().endswith("(") or skip
                continue
            if skip:
                skip = not line.startswith(");")
                continue
            if line.startswith("--") or not line.strip() or line.startswith("SET "):
                continue
            if line.startswith(("SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict")):
                continue
            lines.append(line)
        return lines


def parents(shape_revs: dict[str, list[str]], rev: str) -> list[str]:
    return shape_revs.get(rev, [])


def below(project: str, revision: str, down: dict[str, list[str]]) -> list[str]:
    """alembic targets that bring a fresh database to just below ``revision``."""
    return down.get(revision, [])


def replay_stairway(ref: Reference, project: str, rev: str, down: list[str]) -> dict[str, Any]:
    """upgrade to the parents; upgrade rev; downgrade to the parents; upgrade rev."""
    url, conninfo = ref.fresh_db(project)
    steps: list[dict[str, Any]] = []
    for parent in down:
        steps.append(ref.alembic(project, url, "upgrade", parent))
        if not steps[-1]["ok"]:
            return {"status": "error", "step": "reach parent", "steps": steps}
    before = ref.dump(conninfo)
    plan = [
        ("upgrade", "upgrade", rev),
        ("downgrade", "downgrade", down[0] if len(down) == 1 else f"{rev}-1" if down else "base"),
        ("re-upgrade", "upgrade", rev),
    ]
    trace: list[str] = []
    for step, command, target in plan:
        steps.append(ref.alembic(project, url, command, target))
        steps[-1]["step"] = step
        if not steps[-1]["ok"]:
            return {"status": "failed", "step": step, "steps": steps, "trace": trace}
        if step == "downgrade":
            after = ref.dump(conninfo)
            trace = [
                d
                for d in difflib.unified_diff(before, after, lineterm="", n=0)
                if d[:1] in "+-" and not d.startswith(("+++", "---"))
            ]
    return {"status": "passed", "step": None, "steps": steps, "trace": trace}


def replay_downgrade(ref: Reference, project: str, rev: str, down: list[str]) -> dict[str, Any]:
    """upgrade heads; downgrade to rev (one command); downgrade rev's own step."""
    url, _ = ref.fresh_db(project)
    steps = [ref.alembic(project, url, "upgrade", "heads")]
    if not steps[-1]["ok"]:
        return {"status": "error", "step": "upgrade heads", "steps": steps}
    steps.append(ref.alembic(project, url, "downgrade", rev))
    if not steps[-1]["ok"]:
        return {"status": "failed", "step": "down to it", "steps": steps}
    target = down[0] if len(down) == 1 else f"{rev}-1" if down else "base"
    steps.append(ref.alembic(project, url, "downgrade", target))
    steps[-1]["step"] = "downgrade"
    return {
        "status": "passed" if steps[-1]["ok"] else "failed",
        "step": "downgrade",
        "steps": steps,
    }


def replay_upgrade(ref: Reference, project: str) -> dict[str, Any]:
    url, _ = ref.fresh_db(project)
    steps = [ref.alembic(project, url, "upgrade", "heads")]
    return {"status": "passed" if steps[0]["ok"] else "failed", "steps": steps}


def replay_check(ref: Reference, project: str) -> dict[str, Any]:
    url, _ = ref.fresh_db(project)
    steps = [ref.alembic(project, url, "upgrade", "heads")]
    if steps[-1]["ok"]:
        steps.append(ref.alembic(project, url, "check"))
    return {"status": check_status(steps), "steps": steps}


def check_status(steps: list[dict[str, Any]]) -> str:
    """``alembic check``'s outcome as models_match's status: passed (no difference),
    failed (it found differences: AutogenerateDiffsDetected), error (``upgrade heads``
    failed before it, or it could not compare: a CompileError, no target_metadata...).
    Derived from the steps, so that replays reused from older files read the same way."""
    if not steps[0]["ok"] or len(steps) < 2:
        return "error"
    if steps[-1]["ok"]:
        return "passed"
    return "failed" if steps[-1]["error"].startswith("AutogenerateDiffsDetected") else "error"


def down_map(project: str) -> dict[str, list[str]]:
    out = subprocess.run(
        [py(project), str(HERE / "child.py"), "downmap", project],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(VENVS / project),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def order(down: dict[str, list[str]]) -> list[str]:
    done: list[str] = []
    seen: set[str] = set()

    def visit(rev: str) -> None:
        if rev in seen:
            return
        seen.add(rev)
        for parent in down.get(rev, []):
            visit(parent)
        done.append(rev)

    for rev in sorted(down):
        visit(rev)
    return done


def failing_revisions(result: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(revision, step) pairs a check names: its own, plus every one keep_going listed."""
    pairs: list[tuple[str, str | None]] = []
    if result.get("revision"):
        pairs.append((result["revision"], result.get("step")))
    text = result.get("message", "")
    for rev in re.findall(r"^revision (\S+) ", text, flags=re.M):
        if all(rev != p[0] for p in pairs):
            pairs.append((rev, None))
    steps = re.findall(r"at revision (\S+) .*?in step '([^']+)'", text)
    steps += re.findall(r"^\s+- (\S+) \(.*?\) in step '([^']+)'", text, flags=re.M)  # keep_going
    for rev, step in steps:
        if all(rev != p[0] for p in pairs):
            pairs.append((rev, step))
    return pairs


VERDICT = {
    True: "agree",
    False: "DISAGREE",
    None: "no comparison (not reached by gauntlet-sync, or the reference stopped before)",
}


def cross_check(
    ref: Reference,
    name: str,
    data: dict[str, Any],
    full: bool,
    reuse: dict[str, Any],
    max_replays: int | None = None,
) -> None:
    """Replays what gauntlet-sync reported; ``reuse`` holds replays of an earlier run (the
    reference depends on the project and its settings only, never on gauntlet-sync)."""
    replays: dict[str, Any] = {}
    data["replays_reused"] = []
    data["replays_skipped"] = []

    def replay(key: str, fn: Any, *args: Any) -> dict[str, Any]:
        if key in reuse:
            data["replays_reused"].append(key)
            replays[key] = reuse[key]
        elif ref is None:  # --reuse-only: what is not replayed yet stays so
            data["replays_skipped"].append(key)
            return {"status": "not replayed", "steps": []}
        else:
            replays[key] = fn(ref, name, *args)
        return replays[key]

    results = {r["name"]: r for r in data.get("report", {}).get("results", [])}
    if not results:
        return
    down = down_map(name)
    cross: list[dict[str, Any]] = []

    def add(
        check: str, rev: str | None, gstep: str | None, verdict: dict[str, Any], agree: bool | None
    ) -> None:
        if verdict["status"] == "not replayed":
            return
        for s in verdict.get("steps", []):
            s.pop("traceback", None) if s.get("ok") else None
        cross.append(
            {
                "check": check,
                "revision": rev,
                "gauntlet_step": gstep,
                "reference": verdict,
                "agree": agree,
            }
        )
        log(
            f"  {check} {rev or ''}: reference {verdict['status']}"
            f" {verdict.get('step') or ''} -> {VERDICT[agree]}"
        )

    up = results.get("upgrade")
    if up and up["status"] != "passed":
        v = replay("upgrade", replay_upgrade)
        add("upgrade", up.get("revision"), up.get("step"), v, v["status"] == "failed")
    walk_revs: dict[str, str | None] = {}
    for check in ("stairway", "no_trace"):
        r = results.get(check)
        if r and r["status"] == "failed":
            for rev, step in failing_revisions(r):
                walk_revs.setdefault(rev, step if check == "stairway" else None)

    def named(check: str) -> set[str]:
        r = results.get(check, {})
        return {rev for rev, _ in failing_revisions(r)} if r.get("status") == "failed" else set()

    stair_failed = named("stairway")
    trace_failed = named("no_trace")
    trace_unknown = results.get("no_trace", {}).get("status") != "failed"
    revs = order(down)
    # Without keep_going the shared walk stops at the first failing revision: later ones
    # were never reached, so gauntlet-sync said nothing about them.
    stop = min((revs.index(r) for r in stair_failed if r in revs), default=len(revs))
    keep_going = data.get("keep_going", False)
    # Stairway failures first, then revisions only no_trace names (a --max-replays cap cuts
    # the latter first).
    targets = (
        revs
        if full
        else (
            [r for r in revs if r in stair_failed]
            + [r for r in revs if r in walk_revs and r not in stair_failed]
        )
    )
    for rev in targets:
        key = f"stairway:{rev}"
        if not full and key not in reuse and max_replays is not None:
            if max_replays <= 0:
                data["replays_skipped"].append(rev)  # time: listed, not cross-checked
                continue
            max_replays -= 1
        v = replay(key, replay_stairway, rev, down.get(rev, []))
        reached = keep_going or revs.index(rev) <= stop
        g_fail = rev in stair_failed
        gstep = walk_revs.get(rev)
        if g_fail or v["status"] != "passed":
            agree: bool | None = None
            if reached:
                agree = (v["status"] == "failed") == g_fail and (
                    not g_fail or gstep is None or v.get("step") == gstep
                )
            add("stairway", rev, gstep if g_fail else None, v, agree)
        g_trace = rev in trace_failed
        # The reference knows about traces only if its downgrade step ran.
        ref_knows = v["status"] == "passed" or v.get("step") == "re-upgrade"
        ref_trace = bool(v.get("trace"))
        if g_trace or (ref_knows and ref_trace):
            agree = (g_trace == ref_trace) if (reached and ref_knows) else None
            if trace_unknown:
                agree = None  # no_trace could not run: it said nothing about this revision
            add("no_trace", rev, "downgrade" if g_trace else None, v, agree)
    dg = results.get("downgrade_to_base")
    if dg and dg["status"] == "failed" and dg.get("revision"):
        v = replay(
            f"downgrade:{dg['revision']}",
            replay_downgrade,
            dg["revision"],
            down.get(dg["revision"], []),
        )
        add("downgrade_to_base", dg["revision"], dg.get("step"), v, v["status"] == "failed")
    mm = results.get("models_match")
    if mm and mm["status"] in ("passed", "failed", "error"):  # skipped: it said nothing
        v = replay("check", replay_check)
        if v["status"] != "not replayed":
            v = {**v, "status": check_status(v["steps"])}
        add("models_match", None, None, v, v["status"] == mm["status"])
    data["cross_check"] = cross
    data["replays"] = replays


def replays_of(data: dict[str, Any]) -> dict[str, Any]:
    """The replays a results file holds (older files: rebuilt from their cross_check)."""
    if "replays" in data:
        return dict(data["replays"])
    keys = {
        "stairway": "stairway:{}",
        "no_trace": "stairway:{}",
        "downgrade_to_base": "downgrade:{}",
        "upgrade": "upgrade",
        "models_match": "check",
    }
    return {
        keys[c["check"]].format(c["revision"]): c["reference"] for c in data.get("cross_check", [])
    }


def trace_objects(data: dict[str, Any]) -> tuple[int, list[str]]:
    """How many objects no_trace names per revision, and those its revision's replay does not
    name: each object's own name must appear in the ``pg_dump`` diff of the replay (before the
    upgrade vs after the downgrade), a check on WHAT is left behind, not only on whether."""
    results = {r["name"]: r for r in data.get("report", {}).get("results", [])}
    message = results.get("no_trace", {}).get("message", "")
    replays = replays_of(data)
    total, unmatched, rev = 0, [], None
    for line in message.splitlines():
        head = re.match(r"^revision (\S+) ", line)
        if head:
            rev = head.group(1)
            continue
        item = re.match(r"^\s+- \S+ (\S+)", line)
        replay = replays.get(f"stairway:{rev}")
        if not item or rev is None or not replay:
            continue
        total += 1
        name = item.group(1).split(".")[-1].split("(")[0]
        if name not in "\n".join(replay.get("trace", [])):
            unmatched.append(f"{rev}: {line.strip()}")
    return total, unmatched


# -- RESULTS.md's table ----------------------------------------------------------------------

SHORT = {"passed": "pass", "failed": "FAIL", "skipped": "skip", "error": "ERROR"}


def table() -> str:
    checks = [
        "single_head",
        "upgrade",
        "stairway",
        "downgrade_to_base",
        "models_match",
        "check_constraints",
        "enums",
        "naming",
        "no_trace",
        "safety",
        "isolation",
    ]
    head = (
        "| project | version | revs | "
        + " | ".join(checks)
        + " | wall | cross-check | commit, GAUNTLET_* settings |"
    )
    rows = [head, "|" + "---|" * (len(checks) + 6)]
    for path in sorted(RESULTS.glob("*.json")):
        if path.name.count(".") > 1:  # NAME.naming.json: naming_audit.py's
            continue
        d = json.loads(path.read_text())
        name = d["project"]
        ver = next(iter(d["versions"].values()))
        cells = []
        results = {r["name"]: r for r in d.get("report", {}).get("results", [])}
        for c in checks:
            r = results.get(c)
            if r is None:
                cells.append("crash" if "crash" in d else "-")
                continue
            cells.append(f"{SHORT[r['status']]} {r['seconds']:.1f}s")
        cc = d.get("cross_check", [])
        agree = sum(1 for c in cc if c["agree"] is True)
        dis = sum(1 for c in cc if c["agree"] is False)
        cc_cell = f"{agree} agree, {dis} disagree" if cc else "-"
        if d.get("replays_skipped"):
            cc_cell += f", {len(d['replays_skipped'])} not replayed"
        named, unmatched = trace_objects(d)
        if named:
            cc_cell += f"; no_trace objects in pg_dump's diff: {named - len(unmatched)}/{named}"
        rows.append(
            f"| {name} | {ver} | {d['shape']['revisions']} | "
            + " | ".join(cells)
            + f" | {d['wall_seconds']:.0f}s | {cc_cell} | {run_of(d)} |"
        )
    return "\n".join(rows)


def run_of(data: dict[str, Any]) -> str:
    """The commit a row's run imported and the GAUNTLET_* variables it ran with (files
    written before run.py recorded them: unknown)."""
    commit = f"`{data['commit']}`" if "commit" in data else "commit not recorded"
    settings = data.get("environment")
    if settings is None:
        return f"{commit}; settings not recorded"
    listed = " ".join(f"`{key}={value}`" for key, value in settings.items())
    return f"{commit}; {listed or 'none'}"


def write_table() -> None:
    md = HERE / "RESULTS.md"
    text = (
        md.read_text()
        if md.exists()
        else "# Real-world corpus\n\n<!-- table -->\n<!-- /table -->\n"
    )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    block = (
        f"<!-- table -->\nGenerated by run.py at {stamp} from results/*.json, each row from "
        "its own run: its last column names the commit that run imported (`git describe`, "
        "`-dirty`: uncommitted changes to gauntlet_sync/) and the GAUNTLET_* variables it "
        "had. models_match's ERROR is cross-checked too (alembic check could not compare, "
        f"or `upgrade heads` failed first); skip is not.\n\n{table()}\n<!-- /table -->"
    )
    text = re.sub(r"<!-- table -->.*<!-- /table -->", lambda _: block, text, flags=re.S)
    needed = ["<!-- needed -->"]
    for project in load_projects().PROJECTS.values():
        needed.append(f"- **{project.name}** (`pip install {' '.join(project.pip)}`)")
        needed.extend(f"  - {item}" for item in project.needed)
        if project.overrides:
            needed.append(f"  - GauntletConfig overrides: `{project.overrides}`")
    needed.append("<!-- /needed -->")
    text = re.sub(
        r"<!-- needed -->.*<!-- /needed -->", lambda _: "\n".join(needed), text, flags=re.S
    )
    md.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*")
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--full-reference", action="store_true")
    parser.add_argument("--no-parallel", action="store_true")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument(
        "--fresh-processes",
        action="store_true",
        help="each reference command in a new interpreter (default: forked from a process"
        " that only imported the project, one per fresh database)",
    )
    parser.add_argument(
        "--reuse-only",
        action="store_true",
        help="no reference server: cross-check only with the replays results/NAME.json holds",
    )
    parser.add_argument(
        "--max-replays",
        type=int,
        default=None,
        help="replay at most N revisions per project (stairway failures first; reused not counted)",
    )
    parser.add_argument(
        "--reuse-reference",
        action="store_true",
        help="reuse the replays of results/NAME.json's last run (same project and settings)",
    )
    args = parser.parse_args()
    if args.table_only:
        write_table()
        return 0
    projects = load_projects().PROJECTS
    names = args.projects or list(projects)
    RESULTS.mkdir(exist_ok=True)
    ref = (
        None
        if (args.no_reference or args.reuse_only)
        else Reference(fresh_processes=args.fresh_processes)
    )
    try:
        for name in names:
            project = projects[name]
            if args.install or not (VENVS / name).exists():
                log(f"{name}: installing into {VENVS / name}")
                install(project)
            out = RESULTS / f"{name}.json"
            previous: dict[str, Any] = {}
            if (args.reuse_reference or args.reuse_only) and out.exists():
                previous = replays_of(json.loads(out.read_text()))
            commit = describe_checkout()
            log(f"{name}: run_all at {commit}")
            cmd = [py(name), str(HERE / "child.py"), "run", name, str(out)]
            if args.no_parallel:
                cmd.append("--no-parallel")
            with open(RESULTS / f"{name}.log", "w") as logfile:
                subprocess.run(
                    cmd,
                    check=True,
                    stderr=logfile,
                    stdout=logfile,
                    cwd=str(VENVS / name),
                    env=library_env(),
                )
            data = json.loads(out.read_text())
            check_library(name, data)
            data["commit"] = commit
            for r in data.get("report", {}).get("results", []):
                log(f"  {r['name']}: {r['status']} {r['seconds']:.1f}s")
            if "crash" in data:
                log(f"  run_all CRASHED: {data['crash'].splitlines()[-1]}")
            if ref is not None or args.reuse_only:
                cross_check(ref, name, data, args.full_reference, previous, args.max_replays)
            out.write_text(json.dumps(data, indent=1))
    finally:
        if ref is not None:
            ref.close()
    write_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
