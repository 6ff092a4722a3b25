"""The dashboard's counters stay right only if every change of what they count goes through
instances/state.py's transition(). This guard reads the code base for writers that do not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from setup_portal.instances import state
from setup_portal.stats import counters
from tests import python_source

ROOT = Path(__file__).resolve().parents[2] / "setup_portal"
# transition() itself; the counters' own code; seeding, which adds its batches through counters.add_rows.
ALLOWED = {ROOT / "instances" / "state.py", ROOT / "dashboard" / "management" / "commands" / "seed_instances.py"}
ALLOWED_DIRS = {ROOT / "stats"}
# What the counters count, by field name and attname.
COUNTED = ({f.removesuffix("_id") for f in counters.ROW_FIELDS} | set(counters.ROW_FIELDS)
           | set(state.STATE_FIELDS))
CREATES = {"create", "get_or_create", "update_or_create", "bulk_create", "bulk_update"}
INSTANCE_NAMES = {"inst", "instance", "instances"}
# Rows of other models that code sets by a variable field name and then saves (see tests/instances/test_state.py).
OTHER_ROWS = {"self", "setup", "state"}
RAW_WRITE = re.compile(r"\b(insert\s+into|update|delete\s+from)\s+\"?instances_instance\b", re.IGNORECASE)


def _offence(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_WRITE.search(node.value):
        return "raw SQL writing instances_instance"
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    method, root = node.func.attr, python_source.root_name(node.func)
    keywords = {k.arg for k in node.keywords if k.arg}
    if root == "Instance" and method in CREATES:
        return f"Instance...{method}(): create instances with state.transition() (it counts them)"
    if root == "Instance" and method == "update" and python_source.keyword_spread(node):
        return "Instance...update(**fields): which fields change cannot be read; name them"
    if root == "Instance" and method == "update" and keywords & COUNTED:
        return f"Instance...update({', '.join(sorted(keywords & COUNTED))}): counted fields change in transition()"
    if method == "delete" and (root == "Instance" or _last_name(node.func.value) in INSTANCE_NAMES):
        return "deleting instance rows: do_delete_instance keeps the row (status Deleted) through transition()"
    if method == "save":
        fields = next((k.value for k in node.keywords if k.arg == "update_fields"), None)
        if python_source.strings(fields) & (COUNTED - {"status"}):
            return "save(update_fields=[counted fields]): pass them to transition(also_save=...)"
    return None


def _last_name(node: ast.AST) -> str | None:
    """The name an expression ends with: `inst`, `job.instance`, `setup.instance`."""
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None


def writers(source: str) -> list[str]:
    tree = python_source.parse(source)
    found = [f"{node.lineno}: {what}" for node in ast.walk(tree) if (what := _offence(node))]
    found += [f"{line}: {receiver}.save() after setattr() by a variable name: name the fields"
              for line, receiver in python_source.saves_after_setattr(tree, OTHER_ROWS)]
    return sorted(found, key=lambda line: int(line.split(":")[0]))


def test_it_finds_every_kind_of_writer():
    source = '''
Instance.objects.create(name="x")
Instance.objects.filter(pk=1).update(tags=",a,")
Instance.objects.filter(pk=1).update(dataverse_user_id="x")
Instance.objects.filter(pk=1).delete()
inst.delete()
inst.save(update_fields=["secret_expires_on"])
inst.save(update_fields=["token_cache"])
cursor.execute("UPDATE instances_instance SET tags = ''")
Instance.objects.bulk_create(rows)
'''
    assert [line.split(":")[0] for line in writers(source)] == ["2", "3", "5", "6", "7", "9", "10"]


def test_it_finds_writes_it_cannot_read_the_fields_of():
    """`**fields`, setattr() by a variable name and deletes through any receiver ending in an instance."""
    source = '''
Instance.objects.filter(pk=1).update(**fields)
job.instance.delete()
setup.instance.delete()
endpoint.delete()
'''
    assert [line.split(":")[0] for line in writers(source)] == ["2", "3", "4"]
    assert [line.split(":")[0] for line in writers(python_source.SETATTR_WRITES)] == python_source.SETATTR_WRITE_LINES


def test_only_transition_changes_what_the_counters_count():
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        if path in ALLOWED or any(d in path.parents for d in ALLOWED_DIRS) or "migrations" in path.parts:
            continue
        found = writers(path.read_text())
        if found:
            offenders[str(path.relative_to(ROOT.parent))] = found
    assert not offenders, f"change counted instance fields through instances/state.py's transition(): {offenders}"
