"""What a sign-in completes: a setup's authorization (stage 7) or an instance's re-authorization.

The engine (setup_portal.azure.flows) starts requests, claims answers and keeps authorizations;
these actions take an answer or an authorization and hand it to the wizard or the instance.
"""

from __future__ import annotations

from django.db import transaction

from setup_portal.audit.models import record
from setup_portal.azure.client import AzureError, error_from_redirect
from setup_portal.azure.discovery import complete_discovery
from setup_portal.azure.flows import claim_flow, create_authorization, redeem_answer
from setup_portal.azure.models import AuthFlow, Authorization
from setup_portal.instances.actions import do_reauthenticate_instance
from setup_portal.wizard.actions import do_record_setup_authorization
from setup_portal.wizard.models import Setup


def do_finish_sign_in(authorization: Authorization, *, flow: AuthFlow | None, acting_user) -> None:
    """A sign-in gave `authorization`: the instance takes it and is verified again, or the setup is authorized."""
    if authorization.instance is not None:
        do_reauthenticate_instance(authorization.instance, authorization=authorization, acting_user=acting_user)
    else:
        do_record_setup_authorization(authorization.setup, authorization=authorization, flow=flow,
                                      acting_user=acting_user)


def do_complete_authorization(*, user, answer: dict) -> AuthFlow:
    """Take Azure AD's answer to a sign-in: redeem the code, verify the id_token, record the outcome.

    Raises AzureError when the answer matches no pending flow of `user` (nothing is recorded
    then). Otherwise returns the flow with its outcome saved: `authorization` (the setup is
    authorized, or the instance re-authenticated) or `error_code` / `error_detail`.
    """
    flow = claim_flow(user=user, state=str(answer.get("state", "")),
                      purposes={AuthFlow.Purpose.SETUP, AuthFlow.Purpose.REAUTH, AuthFlow.Purpose.DISCOVERY})
    if flow.purpose == AuthFlow.Purpose.DISCOVERY:
        return complete_discovery(flow, answer)
    try:
        result = redeem_answer(flow, answer)
    except AzureError as exc:
        flow.record_error(exc.code, exc.description)
        return flow
    with transaction.atomic():
        flow.authorization = create_authorization(result, user=flow.user, setup=flow.setup, instance=flow.instance)
        flow.save(update_fields=["authorization"])
        do_finish_sign_in(flow.authorization, flow=flow, acting_user=flow.user)
    return flow


def do_complete_admin_consent(*, user, answer: dict) -> Setup:
    """Azure AD's answer to an admin-consent request of `user`: audited when granted.

    Raises AzureError for a state that is not a pending admin-consent request of `user`, and
    for a refusal (the setup is on the error then, for the "fix it" link).
    """
    flow = claim_flow(user=user, state=str(answer.get("state", "")), purposes={AuthFlow.Purpose.ADMIN_CONSENT})
    if answer.get("error"):
        exc = error_from_redirect(answer)
    elif str(answer.get("admin_consent", "")).lower() != "true":
        exc = AzureError("AADSTS65001", "Azure AD did not confirm the consent.")
    else:
        record("setup.admin_consent_granted", flow.setup, actor=user,
               data={"tenant": str(answer.get("tenant", ""))[:64]})
        return flow.setup
    flow.record_error(exc.code, exc.description)
    raise exc
