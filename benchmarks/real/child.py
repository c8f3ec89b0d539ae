"""Runs inside one corpus project's venv (started by ``run.py``; never imported by it).

``child.py run NAME OUT [--no-parallel]``
    ``Gauntlet(None, cfg).run_all(raise_on_failure=False)`` on the embedded server; writes the
    report, the history's shape and the versions involved to OUT (JSON).
``child.py alembic NAME URL COMMAND TARGET``
    ONE alembic command (``upgrade`` / ``downgrade`` / ``check``) with a fresh ``Config``, in
    this fresh process: the reference a verdict is cross-checked against. Prints one JSON
    line: ``{"ok": bool, "error": "...", "last_step": "Running upgrade a -> b"}``.
``child.py serve NAME URL``
    The same commands, each in a process forked for it from this one, which has set the
    project's environment for URL and imported the project's packages and nothing else (no
    connection, no alembic command run, one thread): a fresh process without paying the
    project's import again (mlflow, airflow and prefect take 15-30 s each to import on this
    loaded machine). Reads ``{"command", "target", "out"}`` lines on stdin; each fork writes
    its JSON line to ``out``; this process then prints ``done``. Where the imports left a
    thread or a socket behind, every command runs as ``child.py alembic`` instead.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load_projects() -> Any:
    spec = importlib.util.spec_from_file_location("corpus_projects", HERE / "projects.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["corpus_projects"] = module
    spec.loader.exec_module(module)
    return module


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package} is not installed in {sys.prefix}")
    return Path(list(spec.submodule_search_locations)[0])


def alembic_config(project: Any, url: str | None) -> Any:
    """A fresh alembic Config for the project, as its own tooling would build it."""
    from alembic.config import Config

    pkg = package_dir(project.package)
    ini = pkg / project.ini if project.ini else None
    if ini is not None and project.ini_template:
        # The shipped ini is a str.format template the project fills in before use.
        filled = Path(tempfile.mkdtemp(prefix="corpus-ini-")) / "alembic.ini"
        filled.write_text(
            ini.read_text().format(
                alembic_dir=str(pkg / project.script_location), db_url=url or "sqlite://"
            )
        )
        ini = filled
    cfg = Config(str(ini)) if ini is not None else Config()
    if project.script_location is not None:
        cfg.set_main_option("script_location", str(pkg / project.script_location))
    for key, value in project.ini_options.items():
        cfg.set_main_option(key, value.replace("{pkg}", str(pkg)).replace("%", "%%"))
    if url is not None and project.url_env is None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if project.config_hook:
        hook(project.config_hook)(cfg)
    return cfg


def hook(name: str | None) -> Any:
    """A function of hooks.py (None for None)."""
    if name is None:
        return None
    spec = importlib.util.spec_from_file_location("corpus_hooks", HERE / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def apply_env(project: Any, url: str) -> None:
    for key, value in project.env.items():
        os.environ[key] = value.replace("{url}", url)
    url = url.replace("+psycopg", project.url_driver, 1)
    if project.url_env:
        os.environ[project.url_env] = url
    if project.setup:
        hook(project.setup)()


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def history_shape(cfg: Any) -> dict[str, Any]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(cfg)
    revs = list(script.walk_revisions())
    env_py = Path(script.env_py_location)
    return {
        "revisions": len(revs),
        "heads": list(script.get_heads()),
        "bases": list(script.get_bases()),
        "merges": sum(1 for r in revs if r.is_merge_point),
        "branch_points": sum(1 for r in revs if r.is_branch_point),
        "branch_labels": sorted({b for r in revs for b in r.branch_labels}),
        "depends_on": sum(1 for r in revs if r.dependencies),
        "env_py": str(env_py),
        "env_py_lines": len(env_py.read_text().splitlines()),
    }


def cmd_run(name: str, out: str, parallel: bool) -> int:
    projects = load_projects()
    project = projects.PROJECTS[name]
    # env vars needing a URL get the embedded server's own database (the one gauntlet-sync
    # uses with dsn=None): gauntlet-sync hands env.py its own schema (connection attribute +
    # sqlalchemy.url); an env.py that builds its engine from the variable ignores that.
    from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig
    from gauntlet_sync.report import CheckResult, CheckStarted

    server_url = EmbeddedPostgres.shared().url.render_as_string(hide_password=False)
    apply_env(project, server_url)
    cfg = alembic_config(project, None)
    shape = history_shape(cfg)
    overrides = {k: v for k, v in project.overrides.items() if not k.startswith("_")}
    fields = set(GauntletConfig.__dataclass_fields__)
    if "keep_going" in fields:
        overrides.setdefault("keep_going", True)
    gcfg = GauntletConfig(
        alembic_ini=None,
        alembic_config=cfg,
        metadata=hook(project.metadata_hook)() if project.metadata_hook else project.metadata,
        prepare=hook(project.prepare),
        parallel=parallel,
        **overrides,
    )
    started: dict[str, float] = {}

    def progress(event: Any) -> None:
        if isinstance(event, CheckStarted):
            started[event.name] = time.monotonic()
            print(f"  [{name}] {event.name} ...", file=sys.stderr, flush=True)
        elif isinstance(event, CheckResult):
            print(
                f"  [{name}] {event.name}: {event.status} ({event.seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    t0 = time.monotonic()
    import gauntlet_sync
    from gauntlet_sync.dsn import mask

    data: dict[str, Any] = {
        "project": name,
        "shape": shape,
        "parallel": parallel,
        "library": str(Path(gauntlet_sync.__file__).resolve().parent),
        # the settings that change what a run does or checks (verification, thresholds),
        # as this process had them; DSNs with their password masked
        "environment": {
            key: mask(value) if "DSN" in key else value
            for key, value in sorted(os.environ.items())
            if key.startswith("GAUNTLET_")
        },
    }
    data["versions"] = {
        d: version(d)
        for d in (
            project.pip[0].split("==")[0].split("[")[0],
            "alembic",
            "SQLAlchemy",
            "psycopg",
            "psycopg2",
            "psycopg2-binary",
            "asyncpg",
            "gauntlet-sync",
        )
    }
    data["keep_going"] = overrides.get("keep_going", False)
    try:
        with Gauntlet(None, gcfg, progress=progress) as gauntlet:
            report = gauntlet.run_all(raise_on_failure=False)
        data["report"] = report.to_dict()
    except BaseException as exc:  # noqa: BLE001 - recorded: run_all must not raise
        data["crash"] = "".join(traceback.format_exception(exc))
    data["wall_seconds"] = round(time.monotonic() - t0, 2)
    Path(out).write_text(json.dumps(data, indent=1))
    return 0


class _Steps(logging.Handler):
    """Remembers alembic's last "Running upgrade/downgrade a -> b" line."""

    def __init__(self) -> None:
        super().__init__()
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Running "):
            self.last = msg


def cmd_alembic(name: str, url: str, command_name: str, target: str) -> int:
    projects = load_projects()
    project = projects.PROJECTS[name]
    apply_env(project, url)
    from alembic import command

    steps = _Steps()
    log = logging.getLogger("alembic.runtime.migration")
    result: dict[str, Any] = {"ok": True, "error": "", "last_step": ""}
    sink = io.StringIO()
    connection = contextlib.ExitStack()
    try:
        cfg = alembic_config(project, url)
        cfg.stdout = sink
        log.addHandler(steps)
        log.setLevel(logging.INFO)
        if project.connection_hook and command_name != "prepare":
            connect = hook(project.connection_hook)
            cfg.attributes["connection"] = connection.enter_context(connect(url))
        if command_name == "upgrade":
            command.upgrade(cfg, target)
        elif command_name == "downgrade":
            command.downgrade(cfg, target)
        elif command_name == "prepare":
            import sqlalchemy

            engine = sqlalchemy.create_engine(url)
            with engine.begin() as connection:
                hook(project.prepare)(connection)
            engine.dispose()
        elif command_name == "check":
            command.check(cfg)
        else:
            raise SystemExit(f"unknown command {command_name}")
    except Exception as exc:  # noqa: BLE001 - the reference's verdict
        result["ok"] = False
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()[-4000:]
    finally:
        connection.close()
    result["last_step"] = steps.last
    result["process"] = os.environ.get("CORPUS_PROCESS", "new interpreter")
    print(json.dumps(result))
    return 0


def in_worker_thread(fn: Any) -> Any:
    """Call fn() in an anyio worker thread under a running event loop (prefect's way)."""
    import anyio
    import anyio.to_thread

    async def body() -> Any:
        return await anyio.to_thread.run_sync(fn)

    return anyio.run(body)


def _fork_safe() -> str:
    """Why forking this process would not give a fresh one ('' when it would)."""
    import threading

    if threading.active_count() > 1:
        return f"{threading.active_count()} threads after the imports"
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                return "a socket open after the imports"
        except OSError:
            continue
    return ""


def cmd_serve(name: str, url: str) -> int:
    import subprocess

    project = load_projects().PROJECTS[name]
    apply_env(project, url)
    import alembic.command  # noqa: F401 - the imports every command pays
    import sqlalchemy  # noqa: F401

    importlib.import_module(project.package)
    if project.metadata:
        importlib.import_module(project.metadata.split(":")[0])
    unsafe = _fork_safe()
    print(f"serve: {unsafe or 'forking'}", file=sys.stderr, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        args = [name, url, request["command"], request["target"]]
        if unsafe:
            with open(request["out"], "w") as out:
                subprocess.run(
                    [sys.executable, __file__, "alembic", *args], stdout=out, check=False
                )
        else:
            pid = os.fork()
            if pid == 0:  # the fresh process for this one command
                os.environ["CORPUS_PROCESS"] = "forked after the project's imports"
                code = 1
                try:
                    with open(request["out"], "w") as out:
                        sys.stdout = out
                        code = main(["alembic", *args])
                        out.flush()
                finally:
                    os._exit(code)
            os.waitpid(pid, 0)
        print("done", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[0] in ("run", "alembic"):
        project = load_projects().PROJECTS[argv[1]]
        if project.in_worker_thread and not os.environ.get("CORPUS_IN_THREAD"):
            os.environ["CORPUS_IN_THREAD"] = "1"
            return int(in_worker_thread(lambda: main(argv)))
    if argv[0] == "run":
        return cmd_run(argv[1], argv[2], parallel="--no-parallel" not in argv)
    if argv[0] == "downmap":  # revision -> its down revisions, as JSON
        from alembic.script import ScriptDirectory

        project = load_projects().PROJECTS[argv[1]]
        apply_env(project, "postgresql+psycopg:///unused")
        script = ScriptDirectory.from_config(alembic_config(project, None))
        downs = {r.revision: list(r._normalized_down_revisions) for r in script.walk_revisions()}
        print(json.dumps(downs))
        return 0
    if argv[0] == "alembic":
        return cmd_alembic(*argv[1:5])
    if argv[0] == "serve":
        return cmd_serve(argv[1], argv[2])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
