"""Two processes writing to one project both succeed: WAL + busy timeout + BEGIN IMMEDIATE."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sqlalchemy import text

from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import ProjectService

WRITER = textwrap.dedent(
    """
    import sys
    from sqlalchemy import text
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.project_service import ProjectService

    tag = sys.argv[1]
    project = ProjectService(ConfigurationService()).open("shared")
    for i in range(150):
        # Read first, then write in the same unit of work: the pattern that deadlocks with plain BEGIN.
        with project.db.session(write=True) as s:
            s.execute(text("SELECT count(*) FROM models")).scalar()
            s.execute(
                text("INSERT INTO models (name, provider, kind, created_at) VALUES (:n, 'p', 'tagger', '2025-01-01')"),
                {"n": f"{tag}-{i}"},
            )
        with project.db.session() as s:
            s.execute(text("SELECT count(*) FROM models")).scalar()
    project.close()
    print("ok")
    """
)


def test_two_processes_write_concurrently_without_lock_errors() -> None:
    projects = ProjectService(ConfigurationService())
    projects.create("shared").close()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, tag], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
        assert out.strip() == "ok"
    project = projects.open("shared")
    with project.db.session() as s:
        assert s.execute(text("SELECT count(*) FROM models")).scalar() == 300
    project.close()
