"""Azure AD errors as the sandbox returns them, in Microsoft's JSON shape.

Reference: https://learn.microsoft.com/entra/identity-platform/reference-error-codes
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.http import JsonResponse

# code -> (OAuth error, HTTP status, message template). Messages follow Azure's wording.
CATALOGUE: dict[int, tuple[str, int, str]] = {
    28000: ("invalid_scope", 400, "Provided value for the input parameter scope is not valid because it contains "
                                  "more than one resource. Scope {scope} is not valid."),
    50011: ("invalid_request", 400, "The redirect URI '{redirect_uri}' specified in the request does not match the "
                                    "redirect URIs configured for the application '{client_id}'. Make sure the "
                                    "redirect URI sent in the request matches one added to your application in the "
                                    "Azure portal."),
    50027: ("invalid_request", 400, "Invalid JWT token. {reason}"),
    50032: ("invalid_client", 401, "WeakRsaKey - Indicates the erroneous user attempt to use a weak RSA key. The "
                                   "key has {bits} bits; use an RSA key of at least 2048 bits."),
    50034: ("invalid_grant", 400, "The user account {username} does not exist in the {tenant} directory. To sign "
                                  "into this application, the account must be added to the directory."),
    50058: ("login_required", 400, "A silent sign-in request was sent but no user is signed in."),
    50076: ("interaction_required", 400, "Due to a configuration change made by your administrator, or because you "
                                         "moved to a new location, you must use multi-factor authentication to "
                                         "access '{resource}'."),
    50126: ("invalid_grant", 400, "Error validating credentials due to invalid username or password."),
    50194: ("invalid_request", 400, "Application '{client_id}'({name}) is not configured as a multi-tenant "
                                    "application. Usage of the /common endpoint is not supported for such "
                                    "applications created after '10/15/2018'. Use a tenant-specific endpoint or "
                                    "configure the application to be multi-tenant."),
    54005: ("invalid_grant", 400, "OAuth2 Authorization code was already redeemed, please retry with a new valid "
                                  "code or use an existing refresh token."),
    65001: ("invalid_grant", 400, "The user or administrator has not consented to use the application with ID "
                                  "'{client_id}' named '{name}'. Send an interactive authorization request for this "
                                  "user and resource."),
    65004: ("access_denied", 400, "User declined to consent to access the app."),
    70003: ("unsupported_grant_type", 400, "The app requested an unsupported grant type '{grant_type}'."),
    70008: ("invalid_grant", 400, "The provided authorization code or refresh token has expired due to inactivity. "
                                  "Send a new interactive authorization request for this user and resource."),
    70011: ("invalid_scope", 400, "The provided value for the input parameter 'scope' is not valid. {detail}"),
    90002: ("invalid_request", 400, "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                                    "and are signing into the correct cloud. Check with your subscription "
                                    "administrator, this may happen if there are no active subscriptions for the "
                                    "tenant."),
    90033: ("temporarily_unavailable", 503, "A transient error has occurred. Please try again."),
    90094: ("access_denied", 400, "The grant requires admin permission."),
    500011: ("invalid_resource", 400, "The resource principal named {resource} was not found in the tenant named "
                                      "{tenant}. This can happen if the application has not been installed by the "
                                      "administrator of the tenant or consented to by any user in the tenant. You "
                                      "might have sent your authentication request to the wrong tenant."),
    500112: ("invalid_grant", 400, "The reply address '{redirect_uri}' does not match the reply address provided "
                                   "when requesting Authorization code."),
    501491: ("invalid_request", 400, "Invalid code_challenge_method '{method}'. The sandbox tenant accepts S256."),
    501481: ("invalid_grant", 400, "The Code_Verifier does not match the code_challenge supplied in the "
                                   "authorization request."),
    700016: ("unauthorized_client", 400, "Application with identifier '{client_id}' was not found in the directory "
                                         "'{tenant}'. This can happen if the application has not been installed by "
                                         "the administrator of the tenant or consented to by any user in the tenant. "
                                         "You may have sent your authentication request to the wrong tenant."),
    700021: ("invalid_client", 401, "Client assertion application identifier doesn't match 'client_id' parameter. "
                                    "Review the documentation at https://aka.ms/certCreds."),
    700023: ("invalid_client", 401, "Client assertion audience claim does not match Realm issuer. Review the "
                                    "documentation at https://aka.ms/certCreds."),
    700024: ("invalid_client", 401, "Client assertion is not within its valid time range. Current time: {now}, "
                                    "assertion valid from {nbf}, expiry time of assertion {exp}. Review the "
                                    "documentation at https://aka.ms/certCreds."),
    700027: ("invalid_client", 401, "Client assertion failed signature validation. [Reason - {reason}, Thumbprint "
                                    "of key used by client: '{thumbprint}'. Please visit the Azure Portal to see "
                                    "configured keys for app Id '{client_id}'.]"),
    700025: ("invalid_client", 401, "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                                    "presented."),
    700051: ("unsupported_response_type", 400, "response_type '{response_type}' is not enabled for the "
                                               "application."),
    700082: ("invalid_grant", 400, "The refresh token has expired due to inactivity. The token was issued on "
                                   "{issued} and was inactive for 90.00:00:00."),
    700005: ("invalid_grant", 400, "Provided Authorization Code is intended to use against other tenant or app, "
                                   "thus rejected."),
    650057: ("invalid_client", 400, "Invalid resource. The client has requested access to a resource which is not "
                                    "listed in the requested permissions in the client's application registration. "
                                    "Client app ID: {client_id}({name}). Resource value from request: {resource}. "
                                    "Resource app ID: {resource_app_id}. List of valid resources from app "
                                    "registration: {valid}."),
    900144: ("invalid_request", 400, "The request body must contain the following parameter: '{parameter}'."),
    1002012: ("invalid_scope", 400, "The provided value for scope {scope} is not valid. Client credential flows "
                                    "must have a scope value with /.default suffixed to the resource identifier "
                                    "(application ID URI)."),
    7000215: ("invalid_client", 401, "Invalid client secret provided. Ensure the secret being sent in the request "
                                     "is the client secret value, not the client secret ID, for a secret added to "
                                     "app '{client_id}'."),
    7000218: ("invalid_client", 401, "The request body must contain the following parameter: 'client_assertion' or "
                                     "'client_secret'."),
    7000222: ("invalid_client", 401, "The provided client secret keys for app '{client_id}' are expired. Visit the "
                                     "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, "
                                     "or consider using certificate credentials for added security: "
                                     "https://aka.ms/certCreds."),
    9002313: ("invalid_grant", 400, "Invalid request. Request is malformed or invalid."),
}


class AadError(Exception):
    """An Azure AD error; `code` is the AADSTS number, `fields` fill the message."""

    def __init__(self, code: int, suberror: str = "", **fields: object):
        self.code = code
        self.error, self.status, template = CATALOGUE[code]
        self.message = template.format_map(_Missing(fields))
        self.suberror = suberror
        super().__init__(f"AADSTS{code}: {self.message}")

    @property
    def description(self) -> str:
        return f"AADSTS{self.code}: {self.message}"


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def json_response(err: AadError, correlation_id: str = "") -> JsonResponse:
    """The token endpoint's error body: error, error_description, error_codes, timestamp, trace and correlation ids."""
    now = datetime.now(UTC)
    trace_id = str(uuid.uuid4())
    correlation_id = correlation_id or str(uuid.uuid4())
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": err.error,
        "error_description": f"{err.description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}"
                             f"\r\nTimestamp: {stamp}",
        "error_codes": [err.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    }
    if err.suberror:
        body["suberror"] = err.suberror
    response = JsonResponse(body, status=err.status)
    response["Cache-Control"] = "no-store"
    return response
