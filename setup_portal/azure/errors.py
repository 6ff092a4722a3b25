"""Plain-words explanations for what Azure AD (and Dataverse) can answer.

`explain(code)` takes an AADSTS code ("AADSTS7000215" or "7000215"), an OAuth error
("access_denied", "invalid_grant"), a Dataverse status ("dataverse_403") or a transport
code ("http_503", "timeout") and says what happened, what to do, and which wizard stage
fixes it (`fix_stage`, a stage key; "reauth" means run the sign-in again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from setup_portal.text import whole_number

# Reference: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes


@dataclass(frozen=True)
class Explanation:
    code: str
    title: str
    what_happened: str
    what_to_do: str
    fix_stage: str | None = None

    @property
    def needs_reauthentication(self) -> bool:
        return self.fix_stage == "reauth"


_CATALOGUE: dict[str, tuple[str, str, str, str | None]] = {
    "AADSTS50011": (
        "The redirect URI does not match",
        "Azure AD refused to send you back to the portal because the app registration does not list "
        "the portal's exact redirect URI.",
        "In Azure AD open the app registration, Authentication, and add the redirect URI shown on the "
        "Application stage exactly as written (it is case-sensitive).",
        "application",
    ),
    "AADSTS50126": (
        "Wrong user name or password",
        "Azure AD did not accept the user name and password.",
        "Check the user name (usually an e-mail address) and enter the password again.",
        "keys",
    ),
    # Azure AD sends these codes (with `interaction_required` or `invalid_grant`) when a saved
    # sign-in can no longer be refreshed without the person: they mean "sign in again".
    "AADSTS50076": (
        "This account needs multi-factor authentication",
        "The account is protected by multi-factor authentication, so the portal cannot sign in for it "
        "without the person: a plain user name and password, or a saved sign-in, is not enough.",
        "Sign in again in the browser (re-authenticate). With custom authentication (user name and password), "
        "which cannot answer MFA, use OAuth 2.0 or server-to-server authentication instead (Application stage).",
        "reauth",
    ),
    "AADSTS50079": (
        "This account must register for multi-factor authentication",
        "The account has to set up multi-factor authentication before it can sign in.",
        "Sign in once at https://myaccount.microsoft.com to register, then sign in again here (re-authenticate).",
        "reauth",
    ),
    "AADSTS53003": (
        "Blocked by a Conditional Access policy",
        "Your organisation's Conditional Access policy blocked this sign-in (for example a location, "
        "device or app rule).",
        "Ask your tenant administrator to allow the portal's app for this user, then authorize again.",
        "authorize",
    ),
    "AADSTS7000215": (
        "The client secret is not valid",
        "Azure AD rejected the client secret. The most common cause is pasting the secret's ID "
        "(a GUID) instead of its value.",
        "In Azure AD create a new client secret, copy its Value (not the Secret ID) right after saving, "
        "and paste it on the Keys stage.",
        "keys",
    ),
    "AADSTS7000222": (
        "The client secret has expired",
        "The client secret on the app registration is past its expiry date.",
        "Create a new client secret in Azure AD, enter its value and expiry date (the Keys stage, or "
        "Rotate secret on the instance page), then authorize again.",
        "reauth",
    ),
    "AADSTS700027": (
        "Azure AD does not accept the certificate",
        "The app registration has no certificate matching the one the portal signed with (not uploaded, "
        "removed, or expired in Azure AD).",
        "Upload the certificate (.cer) under Certificates & secrets → Certificates in the app registration, "
        "or rotate to a new certificate on the instance page (Rotate certificate).",
        "reauth",
    ),
    "AADSTS700024": (
        "The signed assertion is outside its time window",
        "Azure AD refused the portal's signed sign-in assertion as expired or not yet valid; the portal's "
        "clock is probably off.",
        "Check that the portal's server keeps the correct time (NTP), then try again.",
        None,
    ),
    "AADSTS65001": (
        "Consent has not been granted",
        "Neither you nor an administrator has consented to the app using Dynamics CRM on your behalf.",
        "Grant consent with the admin-consent link on the Permissions stage, or ask a tenant "
        "administrator to do it, then authorize again.",
        "permissions",
    ),
    "AADSTS65004": (
        "Consent was declined",
        "The person signing in chose Cancel on Microsoft's consent page.",
        "Authorize again and choose Accept, or ask a tenant administrator to grant consent for everyone.",
        "authorize",
    ),
    "AADSTS90094": (
        "An administrator must grant consent",
        "The permissions this app asks for need a tenant administrator's approval.",
        "Send the admin-consent link on the Permissions stage to a tenant administrator, then authorize again.",
        "permissions",
    ),
    "AADSTS650057": (
        "Dynamics CRM is not among the app's permissions",
        "The app registration does not list Dynamics CRM as an API it may call.",
        "In Azure AD add the permission Dynamics CRM > Delegated > user_impersonation to the app, "
        "then grant consent.",
        "permissions",
    ),
    "AADSTS700016": (
        "The app was not found in this directory",
        "Azure AD has no application with this client ID in the directory (tenant) you entered.",
        "Check the client ID on the Keys stage and the directory on the Environment stage; a "
        "single-tenant app only exists in its own directory.",
        "environment",
    ),
    "AADSTS500011": (
        "The Dynamics environment was not found in this directory",
        "Azure AD does not know the Dynamics CRM URL as a resource in this directory.",
        "Check the Dynamics CRM URL and that it belongs to the directory you entered.",
        "environment",
    ),
    "AADSTS50194": (
        "A single-tenant app cannot use the common endpoint",
        "The app registration is single-tenant, so sign-in has to go to its own directory.",
        "Enter the directory's tenant ID (a GUID) or verified domain on the Environment stage "
        "instead of 'common' or 'organizations'.",
        "environment",
    ),
    "AADSTS54005": (
        "The sign-in code was already used",
        "The one-time code from Azure AD had already been redeemed (for example by reloading the page "
        "or pressing Back).",
        "Start the authorization again; a fresh code is issued each time.",
        "authorize",
    ),
    "AADSTS700082": (
        "The sign-in has expired",
        "The refresh token expired after a long time without use, so the portal can no longer get "
        "tokens for this instance.",
        "Re-authenticate the instance: sign in again and the instance keeps its ID and settings.",
        "reauth",
    ),
    "AADSTS70008": (
        "The sign-in has expired",
        "The authorization code or refresh token has expired.",
        "Re-authenticate: sign in again.",
        "reauth",
    ),
    "AADSTS50173": (
        "The saved sign-in was revoked",
        "Azure AD revoked the grant the portal holds, usually because the user changed or reset "
        "their password, or an administrator revoked their sessions.",
        "Re-authenticate the instance: sign in again and the instance keeps its ID and settings.",
        "reauth",
    ),
    "AADSTS700084": (
        "The sign-in has expired",
        "The refresh token was issued to a single-page app, whose refresh tokens have a fixed "
        "lifetime that cannot be extended, and that lifetime is over.",
        "Re-authenticate the instance: sign in again. If it keeps happening, register the portal's "
        "redirect URI under Web, not Single-page application, in the app registration.",
        "reauth",
    ),
    "AADSTS90002": (
        "The directory was not found",
        "Azure AD has no tenant with the ID or domain you entered.",
        "Check the directory (tenant) ID or domain on the Environment stage, and the cloud you chose.",
        "environment",
    ),
    "AADSTS50020": (
        "The account is not in this directory",
        "The account you signed in with does not belong to the app's directory.",
        "Sign in with an account from the directory you entered, or invite the user as a guest.",
        "authorize",
    ),
    "access_denied": (
        "Access was denied",
        "The sign-in was cancelled or Azure AD refused access.",
        "Authorize again and accept the permissions; if it keeps happening, ask a tenant administrator "
        "to grant consent.",
        "permissions",
    ),
    "invalid_grant": (
        "The authorization is no longer valid",
        "Azure AD refused the saved sign-in (it was revoked, expired or the password changed).",
        "Re-authenticate the instance: sign in again.",
        "reauth",
    ),
    "interaction_required": (
        "Sign-in needs you in the browser",
        "Azure AD needs the user to sign in interactively (for example for MFA or new consent).",
        "Re-authenticate: sign in again in the browser.",
        "reauth",
    ),
    "no_account": (
        "No saved sign-in",
        "The portal holds no signed-in account for this instance.",
        "Re-authenticate the instance: sign in again.",
        "reauth",
    ),
    "dataverse_401": (
        "Dynamics CRM did not accept the access token",
        "The Dynamics environment answered 401 Unauthorized: the token was not issued for this "
        "environment, has expired, or the user has no access to it.",
        "Check that the Dynamics CRM URL is the environment you consented for, then authorize again.",
        "environment",
    ),
    "dataverse_403": (
        "Dynamics CRM refused access",
        "The Dynamics environment answered 403 Forbidden: the app (or user) has no application user "
        "or no security role that allows reading records.",
        "In the Power Platform admin center open the environment, Settings > Users + permissions > "
        "Application users, add the app as an application user and give it a security role "
        "(for example Basic User plus read access to accounts).",
        "permissions",
    ),
    "dataverse_404": (
        "The Dynamics environment was not found",
        "Nothing answered at this Dynamics CRM URL's Web API.",
        "Check the Dynamics CRM URL on the Environment stage.",
        "environment",
    ),
    "polling_resource_missing": (
        "A polled resource does not exist in this environment",
        "Event polling is configured for a resource that this Dynamics environment does not have.",
        "Turn off polling for that resource, or check the environment's customisations.",
        "instance",
    ),
    "invalid_dynamics_url": (
        "The Dynamics CRM URL is not allowed",
        "The portal only calls Dynamics 365 hosts (or the sandbox when it is enabled).",
        "Enter the environment's URL, such as https://contoso.crm.dynamics.com, on the Environment stage.",
        "environment",
    ),
    "sandbox_disabled": (
        "The sandbox tenant is switched off",
        "This setup uses the sandbox tenant, which is not enabled on this portal.",
        "Enter your real Azure AD directory on the Environment stage.",
        "environment",
    ),
    "state_unknown": (
        "This sign-in link is not recognised",
        "The portal has no record of this authorization request (the link was altered or is from "
        "another portal).",
        "Start the authorization again from the Authorize stage.",
        "authorize",
    ),
    "state_expired": (
        "The sign-in took too long",
        "Authorization requests are valid for ten minutes, and this one has expired.",
        "Start the authorization again and finish signing in within ten minutes.",
        "authorize",
    ),
    "state_replayed": (
        "This sign-in was already completed",
        "The answer from Azure AD was already used once (for example after reloading the page).",
        "If the setup is not authorized yet, start the authorization again.",
        "authorize",
    ),
    "state_other_user": (
        "This sign-in was started by someone else",
        "The authorization request belongs to another portal user.",
        "Start the authorization yourself from the Authorize stage.",
        "authorize",
    ),
    "code_in_url": (
        "The sign-in answer came back in the address bar",
        "Azure AD sent the authorization code in the URL instead of posting it to the portal. The "
        "portal does not accept codes in URLs, because URLs end up in logs and browser history.",
        "Start the authorization again from the Authorize stage.",
        "authorize",
    ),
    "discovery_refused": (
        "The Global Discovery Service refused the sign-in",
        "You signed in, but the service that lists Dynamics environments did not accept the sign-in "
        "(HTTP 401 or 403): the account may have no Dynamics license, or the cloud picked is not the "
        "one your environments are in.",
        "Pick the cloud your environments are in and try again, or type the environment's URL instead.",
        "environment",
    ),
    "discovery_failed": (
        "The environment list could not be read",
        "The Global Discovery Service answered, but not with a list of environments.",
        "Try again in a minute, or type the environment's URL instead.",
        "environment",
    ),
    "answer_missing": (
        "The sign-in answer is missing",
        "The portal's return address was opened without Azure AD's answer (for example from a "
        "bookmark or a copied link).",
        "Start the authorization again from the Authorize stage.",
        "authorize",
    ),
    "id_token_invalid": (
        "Azure AD's identity token could not be verified",
        "The identity token in the answer failed the portal's checks (signature, issuer, audience, "
        "expiry or tenant), so the sign-in was refused.",
        "Start the authorization again. If it keeps happening, check the directory and cloud on the "
        "Environment stage.",
        "environment",
    ),
    "http_429": (
        "Microsoft is throttling requests",
        "The service answered 429 Too Many Requests and kept doing so after several retries.",
        "Wait a few minutes, then retry.",
        None,
    ),
    "timeout": (
        "The service did not answer in time",
        "A call to Microsoft timed out, several times in a row.",
        "Wait a moment and retry; if it persists, check the service status.",
        None,
    ),
    "connection_error": (
        "The service could not be reached",
        "The portal could not connect to Microsoft (connection refused or reset), several times in a row.",
        "Wait a moment and retry; if it persists, check the network and the service status.",
        None,
    ),
}

_DEFAULT = (
    "Something went wrong",
    "Azure AD or Dynamics CRM answered with an error the portal does not know in detail.",
    "Check the settings on each stage, then try again. The code below helps your tenant administrator.",
    None,
)

_AADSTS = re.compile(r"AADSTS(\d+)")


def normalize_code(code: str) -> str:
    """'7000215', 'aadsts7000215' and 'AADSTS7000215: ...' all become 'AADSTS7000215'."""
    code = (code or "").strip()
    match = _AADSTS.search(code.upper())
    if match:
        return f"AADSTS{match.group(1)}"
    if code.isascii() and code.isdigit():
        return f"AADSTS{code}"
    return code


def explain(code: str) -> Explanation:
    code = normalize_code(code)
    entry = _CATALOGUE.get(code)
    if entry is None and code.startswith("http_"):
        status = code.removeprefix("http_")
        if (whole_number(status) or 0) >= 500:
            entry = (
                "Microsoft's service is unavailable",
                f"The service answered HTTP {status} and kept doing so after several retries.",
                "Wait a few minutes, then retry. Nothing needs to change in your settings.",
                None,
            )
    title, what_happened, what_to_do, fix_stage = entry or _DEFAULT
    return Explanation(code=code or "unknown", title=title, what_happened=what_happened,
                       what_to_do=what_to_do, fix_stage=fix_stage)


def reauthentication_code(code: str, description: str = "") -> str | None:
    """The code for "sign in again" in an Azure AD answer, or None when a new sign-in does not fix it.

    This is the one decision of whether an instance needs re-authentication: provisioning and
    keep-alive both ask it. Azure AD often names the reason in the description of a generic
    `invalid_grant` ("AADSTS700082: The refresh token has expired..."); that code wins when it
    means "sign in again" too, so the admin reads the specific reason.
    """
    found = _AADSTS.search(f"{code} {description}".upper())
    for candidate in (f"AADSTS{found.group(1)}" if found else "", normalize_code(code)):
        if candidate and explain(candidate).needs_reauthentication:
            return candidate
    return None


def catalogued_codes() -> list[str]:
    return list(_CATALOGUE)
