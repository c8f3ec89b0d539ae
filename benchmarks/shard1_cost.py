#!/usr/bin/env python3
"""Shard 1/4 of a make_history.py history with scope.HEAD_COST forced (so that the cut by
count gives shard 1 more or fewer revisions to walk): is shard 1's time start + head path
+ walk (the additive model the cut uses) or start + max(head path, walk)?

    PYTHONDONTWRITEBYTECODE=1 python benchmarks/shard1_cost.py PROJECT HEAD_COST

PROJECT: a history made by ``make_history.py PROJECT 1200``. One line: walked, wall, CPU
(this process and its forked children; not the server), the load.
"""

import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
t0 = time.perf_counter()
from make_history import load_metadata  # noqa: E402

from gauntlet_sync import Gauntlet, GauntletConfig, scope  # noqa: E402

scope.HEAD_COST = float(sys.argv[2])
project = sys.argv[1]
md = load_metadata(Path(project))
config = GauntletConfig(
    alembic_ini=f"{project}/alembic.ini", metadata=md, safety_fail_on=(), shard=(1, 4)
)
with Gauntlet(None, config) as g:
    r = g.run_all(raise_on_failure=False)
    walked = len(r.scope.walked)
u = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
cpu = sum(x.ru_utime + x.ru_stime for x in u)
print(
    f"HEAD_COST {sys.argv[2]} walked {walked} wall {time.perf_counter() - t0:.2f} cpu {cpu:.2f}"
    f" load {os.getloadavg()[0]:.1f} ok {r.ok}"
)
