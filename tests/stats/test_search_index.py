"""Search: on PostgreSQL answered by the trigram index the stats migration creates, and finding what
the plain LIKE path (SQLite) finds, wildcards in the text included."""

from __future__ import annotations

import pytest
from django.db import connection

from setup_portal.dashboard import filters
from setup_portal.instances.models import Instance
from tests.instances.factories import make_instance


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_the_search_reads_the_trigram_index(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'instance_search_trgm'")
        assert "gin_trgm_ops" in cursor.fetchone()[0]
        # Left only bitmap scans, the planner reads the trigram index if the expressions match (a near-empty
        # table would be scanned, or walked along another index, otherwise).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    plan = Instance.objects.filter(filters.search("4f3a9c")).order_by().explain()
    assert "instance_search_trgm" in plan, plan


def test_the_search_expression_matches_what_the_plain_path_finds(alice, db):
    make_instance(alice, name="contoso 100% live_x", tenant="abc", dynamics_url="https://a.crm4.dynamics.com")
    make_instance(alice, name="fabrikam", organization_name="Contoso Ltd", dynamics_url="https://b.crm.dynamics.com")
    make_instance(alice, name="northwind", dynamics_url="https://c.crm.dynamics.com")
    for text, expected in [("contoso", 2), ("100%", 1), ("_x", 1), ("%", 1), ("EMEA", 3), ("alice", 3),
                           ("crm4", 1), ("live_x abc", 0)]:
        assert Instance.objects.filter(filters.search(text)).count() == expected, text
