"""PostgreSQL only: a trigram index for the dashboard's search (pg_trgm).

The search looks for the text anywhere in an instance's name, URL, tenant, client ID,
organization, tags and region; dashboard/filters.py's SearchText builds the same expression
(one string of those columns), so `ILIKE '%text%'` on it is answered from this GIN index
instead of reading every row. SQLite has no such index and keeps the plain LIKE path.
"""

from django.db import migrations

# Keep in step with setup_portal/dashboard/filters.py (SEARCH_COLUMNS, SearchText).
# chr(31), the unit separator, between columns: no search text contains it, so no match spans two columns.
EXPRESSION = ("(name || chr(31) || dynamics_url || chr(31) || tenant || chr(31) || client_id || chr(31) "
              "|| organization_name || chr(31) || tags || chr(31) || region)")


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS instance_search_trgm ON instances_instance "
                          f"USING gin ({EXPRESSION} gin_trgm_ops)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS instance_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("stats", "0002_count_existing_instances"), ("instances", "0010_instance_team_required")]

    operations = [migrations.RunPython(create_index, drop_index)]
