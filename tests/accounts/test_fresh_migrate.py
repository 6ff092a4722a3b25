"""A fresh database gets everything from `migrate` alone: roles and the database cache's table."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_creates_roles_and_the_cache_table_on_a_fresh_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   timeout=120)

    db = sqlite3.connect(tmp_path / "portal.sqlite3")
    tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
    groups = {row[0] for row in db.execute("select name from auth_group")}
    assert "portal_cache" in tables
    assert groups == {"Admin", "Team lead", "Portal administrator"}
