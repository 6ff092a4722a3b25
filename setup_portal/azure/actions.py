"""What the portal records when an authorization succeeds."""

from __future__ import annotations

from django.db import transaction

from setup_portal.audit.models import record
from setup_portal.wizard.models import Setup

from .models import AuthFlow, Authorization


@transaction.atomic
def do_record_setup_authorization(setup: Setup, *, authorization: Authorization, flow: AuthFlow | None,
                                  acting_user) -> Setup:
    """Stage 7 done: the setup is authorized, the stage is recorded (who, when, how long), audited."""
    from setup_portal.wizard.actions import do_complete_stage

    do_complete_stage(setup, "authorize", changes={"authorized_at": authorization.created_at},
                      started_at=flow.created_at if flow else None, source="azure", acting_user=acting_user)
    record("setup.authorized", setup, actor=acting_user,
           data={"authorization": authorization.pk, "auth_type": setup.auth_type,
                 "signed_in_as": authorization.claims.get("preferred_username", ""),
                 "tenant": authorization.claims.get("tid", setup.tenant)})
    setup.refresh_from_db()
    return setup
