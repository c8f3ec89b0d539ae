"""Which revisions the walks cover: changed-only runs (``changed_since``) and shards.

A pull request usually adds one revision to a history of hundreds, and a long history
outgrows one CI job. Both are answered by walking a part of the history:

* ``changed_since="origin/main"``: the revisions whose files git says were added or
  changed since the ref (from where the branch left it, working tree included), and every
  revision that depends on one of them. A change that may alter any revision's behaviour
  (env.py, ``script.py.mako``, the ini, a helper module among the revision files, a
  removed file) walks everything.
* ``shard=(i, n)``: the revisions to walk cut into ``n`` contiguous ranges of about equal
  cost (one revision each, or the seconds an earlier report measured); shard ``i`` walks
  range ``i``.

Whatever the part, the state before its first revision is built by one transaction
(``alembic upgrade <rev>`` on a fresh database), then the stairway goes on as the full
walk would from there: a revision of the part meets the very state the full walk gives
it, so its verdicts are the full walk's. Revisions in between that are not walked (other
branches) are applied by a plain upgrade step, as in the full walk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic.config import Config

from . import _compat
from .errors import ChangedSinceError, ConfigError
from .history import History

__all__ = ["WalkScope", "changed_files", "cut", "plan", "read_timings"]

#: what upgrading one revision inside one transaction (a part's start state) costs, as a
#: share of walking a revision (its stairway steps with the walk checks' hooks): the cut
#: gives the parts that start from a longer upgrade fewer revisions to walk. Fitted on 16
#: quiet-machine shard runs of 1,200 revisions (benchmarks/RESULTS.md, "CI at scale",
#: 29 Nov): shards 2-4's wall times as fixed + start revisions x S + walked revisions x W
#: (least squares, 0.8 s RMS) give S/W = 0.12.
START_COST = 0.12
#: what shard 1's head state costs per revision of the whole history, in the same unit:
#: its one-transaction upgrade, then the head-state checks' reads and ``downgrade_to_base``
#: beside its walk (a third process on the runner's CPUs). Same fit: shard 1 took 7.5 s
#: more than the others' fixed part, 0.33 W per revision of the history, and a walked
#: revision cost it what it costs them.
HEAD_COST = 0.33


@dataclasses.dataclass(frozen=True)
class WalkScope:
    """The part of the history the walk checks (stairway, no_trace, safety) cover.

    ``walked``
        The revisions walked, in history order.
    ``not_walked``
        Every other revision, in history order, with the reason it was not walked.
    ``unchanged``
        The revisions left out by ``changed_since`` (``downgrade_to_base`` does not step
        them down either); a shard's other ranges are not among them.
    ``changed_since``
        The git ref of a changed-only run (``None``: not one).
    ``shard``
        ``(i, n)``: this run is shard ``i`` of ``n`` (``None``: not sharded).
    ``note``
        One line saying how the part was chosen (e.g. ``full run: env.py changed``).
    """

    walked: tuple[str, ...]
    not_walked: Mapping[str, str]
    unchanged: frozenset[str] = frozenset()
    changed_since: str | None = None
    shard: tuple[int, int] | None = None
    note: str = ""

    @property
    def head_checks_elsewhere(self) -> bool:
        """Whether another shard runs the head-state checks (only shard 1 does)."""
        return self.shard is not None and self.shard[0] != 1

    def lines(self) -> list[str]:
        """What the report says about the part walked (a few lines)."""
        out = [self.note] if self.note else []
        out.append(f"walked {len(self.walked)} revision(s): {_some(self.walked)}")
        if self.not_walked:
            reasons: dict[str, list[str]] = {}
            for rev, why in self.not_walked.items():
                reasons.setdefault(why, []).append(rev)
            for why, revs in reasons.items():
                out.append(f"not walked, {len(revs)} revision(s) ({why}): {_some(revs)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``walked``, ``not_walked`` (revision -> reason) and the rest."""
        return {
            "walked": list(self.walked),
            "not_walked": dict(self.not_walked),
            "unchanged": sorted(self.unchanged),
            "changed_since": self.changed_since,
            "shard": list(self.shard) if self.shard else None,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WalkScope:
        """The inverse of :meth:`to_dict` (for ``merge-reports``)."""
        shard = data.get("shard")
        return cls(
            walked=tuple(data.get("walked", ())),
            not_walked=dict(data.get("not_walked", {})),
            unchanged=frozenset(data.get("unchanged", ())),
            changed_since=data.get("changed_since"),
            shard=(int(shard[0]), int(shard[1])) if shard else None,
            note=str(data.get("note", "")),
        )


def _some(revisions: Sequence[str], most: int = 12) -> str:
    if not revisions:
        return "none"
    shown = ", ".join(revisions[:most])
    return shown + (f" ... ({len(revisions) - most} more)" if len(revisions) > most else "")


# -- the plan -----------------------------------------------------------------------------


def plan(
    history: History,
    alembic_config: Config,
    *,
    changed_since: str | None,
    shard: tuple[int, int] | None,
    timings: Mapping[str, float] | None = None,
) -> WalkScope | None:
    """The part of ``history`` to walk (``None``: all of it, the usual run)."""
    if changed_since is None and shard is None:
        return None
    ids = history.ids
    walked: list[str] = list(ids)
    not_walked: dict[str, str] = {}
    unchanged: frozenset[str] = frozenset()
    note = ""
    if changed_since is not None:
        walked, note = _changed_part(history, alembic_config, changed_since)
        unchanged = frozenset(ids) - frozenset(walked)
        why = f"unchanged since {changed_since}, depends on no changed revision"
        not_walked = {rev: why for rev in ids if rev in unchanged}
    if shard is not None:
        index, total = shard
        position = {rev: i for i, rev in enumerate(ids)}
        ranges = cut(
            walked,
            total,
            timings or {},
            before=[position[rev] for rev in walked],
            head=len(ids),
        )
        mine = ranges[index - 1]
        for number, part in enumerate(ranges, 1):
            if number != index:
                not_walked.update({rev: f"walked by shard {number} of {total}" for rev in part})
        walked = mine
        where = f"shard {index} of {total}"
        note = f"{where}; {note}" if note else where
    ordered = {rev: not_walked[rev] for rev in ids if rev in not_walked}
    return WalkScope(tuple(walked), ordered, unchanged, changed_since, shard, note)


def cut(
    revisions: Sequence[str],
    parts: int,
    seconds: Mapping[str, float],
    *,
    before: Sequence[int] | None = None,
    head: int = 0,
) -> list[list[str]]:
    """``revisions`` in ``parts`` contiguous ranges of about equal cost.

    A revision costs its measured ``seconds`` (the mean of the measured ones when it has
    none, e.g. a new revision), or 1 with no measurements. A range also pays for the
    one-transaction upgrade of everything before it (:data:`START_COST` of a revision's
    cost each; ``before[i]``: how many revisions of the history come before
    ``revisions[i]``, default ``i``), so later ranges are shorter; the first range also
    pays for shard 1's head state (:data:`HEAD_COST` for each of the ``head`` revisions
    of the whole history: its upgrade, and the head-state checks beside its walk). The
    largest range cost is minimised (binary search on it, each range taken as long as it
    fits)."""
    known = [seconds[r] for r in revisions if r in seconds and seconds[r] > 0]
    default = statistics.fmean(known) if known else 1.0
    costs = [seconds[r] if seconds.get(r, 0) > 0 else default for r in revisions]
    mean = statistics.fmean(costs) if costs else 1.0
    start_cost, head_cost = START_COST * mean, HEAD_COST * mean
    upgraded = list(before) if before is not None else list(range(len(revisions)))

    def ranges_within(limit: float) -> list[int] | None:
        """Range ends, each range as long as it stays within ``limit``."""
        ends: list[int] = []
        position = 0
        while position < len(costs):
            spent = start_cost * upgraded[position] + (head_cost * head if not ends else 0)
            end = position
            while end < len(costs) and (spent + costs[end] <= limit or end == position):
                spent += costs[end]
                end += 1
            if spent > limit or len(ends) == parts:
                return None
            ends.append(end)
            position = end
        return ends

    low, high = 0.0, sum(costs) + start_cost * max(upgraded, default=0) + head_cost * head + 1.0
    best = ranges_within(high)
    for _ in range(60):
        middle = (low + high) / 2
        found = ranges_within(middle)
        if found is None:
            low = middle
        else:
            high, best = middle, found
    ends = best or [len(costs)]
    starts = [0, *ends[:-1]]
    result = [list(revisions[a:b]) for a, b in zip(starts, ends, strict=True)]
    result += [[] for _ in range(parts - len(result))]
    return result


def read_timings(source: str | os.PathLike[str] | Mapping[str, float]) -> dict[str, float]:
    """Seconds per revision from an earlier JSON report (its ``revision_seconds``), or
    the mapping itself."""
    if isinstance(source, Mapping):
        return {str(k): float(v) for k, v in source.items()}
    path = Path(os.fspath(source))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"Cannot read shard_timings {path}: {exc.strerror or exc}. Pass the JSON report "
            "of an earlier run (CLI: --json > report.json)."
        ) from None
    except ValueError as exc:
        raise ConfigError(f"shard_timings {path} is not JSON: {exc}.") from None
    found = data.get("revision_seconds") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        raise ConfigError(
            f"shard_timings {path} has no revision_seconds: pass a JSON report of "
            "gauntlet-sync that walked the stairway (CLI: --json)."
        )
    return {str(k): float(v) for k, v in found.items() if isinstance(v, (int, float))}


# -- changed since a git ref ------------------------------------------------------------------


def _changed_part(history: History, alembic_config: Config, ref: str) -> tuple[list[str], str]:
    """The revisions to walk for a changed-only run, and the note saying why."""
    script = history.script
    locations = [Path(p) for p in _compat.version_locations(script)]
    where = next((p for p in locations if p.is_dir()), Path(script.dir))
    changed = changed_files(where, ref)
    revision_files = {_real(Path(str(s.path))): s.revision for s in history.revisions if s.path}
    whole = _whole_run_files(history, alembic_config)
    roots = [Path(script.dir).resolve(), *(p.resolve() for p in locations)]
    changed_revisions: set[str] = set()
    for path in sorted(changed):
        if path in whole:
            return list(history.ids), f"full run: {whole[path]} changed since {ref}"
        if path in revision_files:
            changed_revisions.add(revision_files[path])
        elif path.suffix == ".py" and any(r == path.parent or r in path.parents for r in roots):
            state = "removed" if not path.exists() else "changed (not a revision file)"
            return list(history.ids), f"full run: {_shown(path)} {state} since {ref}"
    walked: list[str] = []
    reached: set[str] = set()
    for rev in history.ids:
        parents = _compat.all_down_revisions(history.get(rev))
        if rev in changed_revisions or reached.intersection(parents):
            reached.add(rev)
            walked.append(rev)
    if not changed_revisions:
        return [], f"no revision changed since {ref}"
    first = ", ".join(r for r in history.ids if r in changed_revisions)
    if len(walked) == len(history.ids):
        return walked, (f"full run: every revision depends on one changed since {ref} ({first})")
    later = len(walked) - len(changed_revisions)
    return walked, (
        f"{len(changed_revisions)} revision(s) changed since {ref} ({first}) and "
        f"{later} depending on them"
    )


def _whole_run_files(history: History, alembic_config: Config) -> dict[Path, str]:
    """Files whose change may alter every revision's run: path -> what it is."""
    script = history.script
    files = {
        _real(Path(script.env_py_location)): "env.py",
        _real(Path(script.dir) / "script.py.mako"): "script.py.mako",
    }
    ini = alembic_config.config_file_name
    if ini:
        files[_real(Path(ini))] = f"the ini ({Path(ini).name})"
    toml = getattr(alembic_config, "toml_file_name", None)
    if toml:
        files[_real(Path(str(toml)))] = f"{Path(str(toml)).name} (alembic's settings)"
    return files


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def changed_files(directory: Path, ref: str) -> set[Path]:
    """Files added, changed or removed since ``ref`` in the git checkout holding
    ``directory``, as absolute paths: committed since the branch left ``ref`` (their
    merge base), staged, unstaged and untracked (not ignored) alike."""
    top = _git(directory, ref, "rev-parse", "--show-toplevel")
    if top is None:
        raise ChangedSinceError(
            f"changed_since={ref!r}: {directory} is not in a git checkout (git rev-parse "
            "failed). Run from a clone of the repository, or leave changed_since unset "
            "(CLI: drop --changed-since) for a full run."
        )
    root = Path(top.strip())
    if _git(root, ref, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is None:
        raise ChangedSinceError(
            f"changed_since={ref!r}: git knows no commit {ref!r} in {root}. Fetch it first "
            "(e.g. `git fetch origin main`; with actions/checkout set fetch-depth: 0) or "
            "name another ref."
        )
    base = _git(root, ref, "merge-base", ref, "HEAD")
    since = base.strip() if base else ref
    listed = _git(root, ref, "diff", "--name-only", "--no-renames", "-z", since, "--")
    untracked = _git(root, ref, "ls-files", "--others", "--exclude-standard", "-z")
    if listed is None or untracked is None:
        raise ChangedSinceError(f"changed_since={ref!r}: git could not list the changed files.")
    names = [n for n in (listed + untracked).split("\0") if n]
    return {_real(root / name) for name in names}


def _git(cwd: Path, ref: str, *args: str) -> str | None:
    """git's output, or ``None`` when it fails (a missing git is an error of its own)."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise ChangedSinceError(
            f"changed_since={ref!r} needs git, which is not installed (or not on PATH)."
        ) from None
    except OSError as exc:
        raise ChangedSinceError(f"changed_since={ref!r}: cannot run git in {cwd}: {exc}") from None
    return done.stdout if done.returncode == 0 else None
