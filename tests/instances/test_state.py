"""One owner of instance state: the guard over the code base, the transitions, one badge mapping,
and one "needs re-authentication" decision for provisioning and keep-alive alike."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure import client as azure_client
from setup_portal.azure.client import AzureError
from setup_portal.instances import keepalive, state
from setup_portal.instances.models import BADGE_CSS, HealthCheck, Instance, JobStep, ProvisioningJob
from setup_portal.instances.provisioning import STEP_KEYS
from setup_portal.instances.tasks import provision_instance
from tests import python_source

from .factories import make_instance, sandbox_oauth_instance

ROOT = Path(__file__).resolve().parents[2] / "setup_portal"
OWNER = ROOT / "instances" / "state.py"
# Demo and benchmark rows are built whole with bulk_create (10,000 of them); no state changes there.
EXEMPT = {ROOT / "dashboard" / "management" / "commands" / "seed_instances.py"}
WRITE_METHODS = {"update", "create", "get_or_create", "update_or_create", "bulk_create", "bulk_update"}
# Other models' own status fields, assigned from their own enums, are not instance state; nor are
# the status codes of HTTP responses and exceptions.
OTHER_STATUS_ENUMS = {"Setup", "ProvisioningJob", "JobStep", "StepAttempt", "AuthFlow"}
NOT_INSTANCES = {"self", "response", "resp", "exc"}
# Rows of other models that code sets by a variable field name and then saves: a setup's stage
# values (wizard/actions.py), a table's poll progress (PollState).
OTHER_ROWS = {"setup", "state"}


def _foreign_status(value: ast.AST | None) -> bool:
    return (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Attribute)
            and value.value.attr == "Status" and python_source.root_name(value) in OTHER_STATUS_ENUMS)


def _assigned_state(node: ast.Assign | ast.AugAssign | ast.AnnAssign) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    flat = [t for target in targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
    return [t.attr for t in flat if isinstance(t, ast.Attribute) and t.attr in state.STATE_FIELDS
            and python_source.root_name(t) not in NOT_INSTANCES
            and not (t.attr == "status" and _foreign_status(node.value))]


def _call_writes_state(node: ast.Call) -> str | None:
    func, keywords = node.func, {k.arg for k in node.keywords}
    if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) > 1:
        return "setattr" if python_source.strings(node.args[1]) & state.STATE_FIELDS else None
    # `**fields` may hold any field: as good as naming a state field.
    spread = python_source.keyword_spread(node)
    if isinstance(func, ast.Name) and func.id == "Instance":
        return "Instance(...)" if keywords & state.STATE_FIELDS or spread else None
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr in WRITE_METHODS and python_source.root_name(func) == "Instance":
        writes = keywords & state.STATE_FIELDS or spread or "bulk" in func.attr
        return f"Instance...{func.attr}(...)" if writes else None
    if func.attr == "save":
        fields = next((k.value for k in node.keywords if k.arg == "update_fields"), None)
        # "status" alone is every model's field; assigning it is what the rule above catches.
        return "save(update_fields=...)" if python_source.strings(fields) & (state.STATE_FIELDS - {"status"}) else None
    return None


def state_writes(source: str) -> list[str]:
    """Every place in `source` that writes an instance's status, health or review ("line: what")."""
    tree = python_source.parse(source)
    found = [f"{line}: {receiver}.save() after setattr() by a variable name"
             for line, receiver in python_source.saves_after_setattr(tree, NOT_INSTANCES | OTHER_ROWS)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            found += [f"{node.lineno}: assigns .{field}" for field in _assigned_state(node)]
        elif isinstance(node, ast.Call) and (what := _call_writes_state(node)):
            found.append(f"{node.lineno}: {what}")
    return sorted(found, key=lambda line: int(line.split(":")[0]))


def test_it_finds_every_kind_of_state_write():
    source = """
inst.status = Instance.Status.READY
inst.status, inst.status_code = restored, ""
inst.health_detail += "!"
setup.status = Setup.Status.COMPLETED
job.status = ProvisioningJob.Status.FAILED
Instance.objects.filter(pk=1).update(status="ready")
Instance.objects.filter(pk=1).update(dataverse_user_id="x")
Instance(name="a", review_state="approved")
response.status_code = 404
row.save(update_fields=["health", "updated_at"])
row.save(update_fields=["token_cache"])
setattr(inst, "reviewed_by", bob)
Instance.objects.bulk_create(rows)
"""
    assert [line.split(":")[0] for line in state_writes(source)] == ["2", "3", "3", "4", "7", "9", "11", "13", "14"]


def test_it_finds_writes_it_cannot_read_the_fields_of():
    """`**fields` and setattr() by a variable name, on any receiver (not only one called `instance`)."""
    source = """
Instance.objects.filter(pk=1).update(**fields)
Instance.objects.filter(pk=1).update(**{"status": "ready"})
Instance(name="a", **values)
Instance.objects.filter(pk=1).update(name="x")
"""
    assert [line.split(":")[0] for line in state_writes(source)] == ["2", "3", "4"]
    lines = [line.split(":")[0] for line in state_writes(python_source.SETATTR_WRITES)]
    assert lines == python_source.SETATTR_WRITE_LINES


def test_it_has_one_writer_of_instance_state():
    """Only state.py writes an instance's status, health or review."""
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        if path == OWNER or path in EXEMPT or "migrations" in path.parts:
            continue
        writes = state_writes(path.read_text())
        if writes:
            offenders[str(path.relative_to(ROOT.parent))] = writes
    assert not offenders, f"write instance state through setup_portal/instances/state.py: {offenders}"


def test_it_refuses_fields_that_are_not_state(alice, db):
    inst = make_instance(alice)
    with pytest.raises(ValueError, match="Not instance state"):
        state.transition(inst, "instance.renamed", acting_user=alice, name="other")


def test_a_deleted_instance_stays_deleted(alice, db):
    inst = make_instance(alice, status=Instance.Status.DELETED)
    job = ProvisioningJob.objects.create(instance=inst, status=ProvisioningJob.Status.RUNNING)
    assert state.mark_ready(job, acting_user=None) is None
    assert state.record_health_check(inst.pk, ok=True, detail="", duration_ms=1, acting_user=None) is None
    with pytest.raises(state.InstanceStateError):
        state.transition(inst, "instance.enabled", acting_user=alice, status=Instance.Status.READY)
    inst.refresh_from_db()
    assert inst.status == Instance.Status.DELETED and not inst.token_hash
    assert not AuditEvent.objects.exists() and not HealthCheck.objects.exists()


def test_every_state_has_one_badge():
    for choices in (Instance.Status, Instance.Review, Instance.Health):
        assert set(choices.values) <= set(BADGE_CSS)
    assert Instance(status="needs_reauth", health="healthy", review_state="changes_requested").status_css == "badge-bad"


def test_the_badges_come_from_the_one_mapping(alice_client, bob_client, alice, db):
    inst = make_instance(alice, status=Instance.Status.DISABLED, health=Instance.Health.FAILING,
                         review_state=Instance.Review.APPROVED, reviewed_by=alice, reviewed_at=timezone.now())
    page = alice_client.get(f"/instances/{inst.pk}/").content.decode()
    assert '<span class="badge badge-warn">Disabled</span>' in page
    assert '<span class="badge badge-bad">Failing</span>' in page
    assert '<span class="badge badge-ok">Approved</span>' in page
    dashboard = bob_client.get("/instances/", {"status": Instance.Status.DISABLED}).content.decode()
    row = dashboard[dashboard.index(f'href="/instances/{inst.pk}/"'):]
    row = row[:row.index("</tr>")]
    assert '<span class="badge badge-warn">Disabled</span>' in row
    assert '<span class="badge badge-bad">Failing</span>' in row
    assert '<span class="badge badge-ok">Approved</span>' in row


# One "needs re-authentication" decision: provisioning and keep-alive agree --------------------------

# AADSTS50076 is how Azure AD says interaction_required when MFA is now needed for a saved sign-in.
REAUTH_CODES = ["AADSTS50173", "AADSTS700084", "no_account", "interaction_required", "AADSTS50076"]


@pytest.fixture
def azure_refuses(monkeypatch):
    """Azure AD answers every token request with `code`: the sandbox cannot produce these codes."""
    def refuse(code: str, description: str = ""):
        def acquire_token(*args, **kwargs):
            raise AzureError(code, description)
        monkeypatch.setattr(azure_client, "acquire_token", acquire_token)
    return refuse


def _provision(inst: Instance) -> Instance:
    job = ProvisioningJob.objects.create(instance=inst)
    JobStep.objects.bulk_create(JobStep(job=job, key=key, position=i) for i, key in enumerate(STEP_KEYS))
    assert provision_instance(job.pk) == "failed"
    return Instance.objects.get(pk=inst.pk)


@pytest.mark.parametrize("code", REAUTH_CODES)
def test_provisioning_asks_for_a_new_sign_in(code, alice, db, azure_refuses):
    azure_refuses(code)
    inst = _provision(make_instance(alice, status=Instance.Status.PROVISIONING))
    assert (inst.status, inst.status_code) == (Instance.Status.NEEDS_REAUTH, code)
    assert AuditEvent.objects.get(verb="instance.provisioning_failed").data["error_code"] == code


@pytest.mark.parametrize("code", REAUTH_CODES)
def test_keep_alive_refresh_asks_for_a_new_sign_in(code, alice, db, azure_refuses):
    azure_refuses(code)
    inst = make_instance(alice, access_token_expires_at=timezone.now())
    assert keepalive.refresh_token(str(inst.pk)) == "needs_reauth"
    inst.refresh_from_db()
    assert (inst.status, inst.status_code) == (Instance.Status.NEEDS_REAUTH, code)


@pytest.mark.parametrize("code", REAUTH_CODES)
def test_keep_alive_health_check_asks_for_a_new_sign_in(code, alice, db, azure_refuses):
    azure_refuses(code)
    inst = make_instance(alice)
    check = keepalive.check_health(str(inst.pk))
    inst.refresh_from_db()
    assert not check.ok and check.error_code == code
    assert (inst.status, inst.status_code, inst.health) == (Instance.Status.NEEDS_REAUTH, code, "failing")


def test_the_specific_code_in_a_generic_answer_wins(alice, db, azure_refuses):
    azure_refuses("invalid_grant", "AADSTS50173: The provided grant has been revoked.")
    inst = make_instance(alice, access_token_expires_at=timezone.now())
    assert keepalive.refresh_token(str(inst.pk)) == "needs_reauth"
    assert Instance.objects.get(pk=inst.pk).status_code == "AADSTS50173"
    other = _provision(make_instance(alice, status=Instance.Status.PROVISIONING))
    assert other.status_code == "AADSTS50173" and "revoked" in other.status_detail


def test_other_refusals_do_not_ask_for_a_new_sign_in(alice, db, azure_refuses):
    azure_refuses("AADSTS90002")
    inst = make_instance(alice, access_token_expires_at=timezone.now())
    assert keepalive.refresh_token(str(inst.pk)) == "failed"
    assert Instance.objects.get(pk=inst.pk).status == Instance.Status.READY
    assert _provision(make_instance(alice, status=Instance.Status.PROVISIONING)).status == Instance.Status.FAILED


def test_a_cache_without_a_sign_in_needs_one_in_both_paths(alice, clean_sandbox):
    """no_account for real: an OAuth instance whose token cache holds no account, against the sandbox."""
    inst = sandbox_oauth_instance(alice, clean_sandbox, token_cache="", access_token_expires_at=timezone.now())
    assert keepalive.refresh_token(str(inst.pk)) == "needs_reauth"
    assert Instance.objects.get(pk=inst.pk).status_code == "no_account"
    other = sandbox_oauth_instance(alice, clean_sandbox, token_cache="", status=Instance.Status.PROVISIONING)
    assert _provision(other).status == Instance.Status.NEEDS_REAUTH
