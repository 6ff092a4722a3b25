"""drf-spectacular helpers: every operation documents its problem-details errors the same way,
and the API key appears as a Bearer security scheme."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema

from setup_portal.api.problems import PROBLEM_CONTENT_TYPE, TYPE_PREFIX

from .pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from .serializers import Problem

_ERROR_TEXT = {
    400: "The request does not match this schema (a type, a length, a value out of range): `errors` says "
         "what is wrong, per field.",
    401: "No credential, or an API key that is unknown, expired or revoked.",
    403: "The caller's role does not allow this (the rule's reason is in `detail`).",
    404: "No such object, or one the caller may not see.",
    409: "The object's state does not allow this now (for example, it was deleted).",
    422: "The request matches this schema but breaks a rule the portal's pages check too (the rules are in the "
         "fields' descriptions): `errors` says which, per field.",
    429: "Too many requests with this API key; wait `Retry-After` seconds.",
    503: "Azure AD or Dynamics CRM could not be reached; nothing was created. Try again after `Retry-After`.",
}
_SLUG = {400: "validation", 401: "unauthorized", 403: "forbidden", 404: "not-found", 409: "conflict",
         422: "validation", 429: "rate-limited", 503: "unavailable"}
ALWAYS = (401, 403, 429)


_FIELD_ERRORS = {400: {"page_size": [f"Send a whole number from 1 to {MAX_PAGE_SIZE}."]},
                 409: {"name": ["A team named “EMEA sales” already exists; pick another name."]},
                 422: {"callback_url": ["Use an https:// address."]}}

# A page of any list: the size is bounded (a value outside is a 400), the cursor comes from a page's links.
PAGING = [OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                           description=f"1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}."),
          OpenApiParameter("cursor", str, description="From a page's `next` or `previous` URL; a cursor this list "
                                                      "did not give out is refused (422).")]


def _problem(status: int, text: str) -> OpenApiResponse:
    example = {"type": TYPE_PREFIX + _SLUG[status], "title": "…", "status": status, "detail": text,
               "instance": "/api/v1/instances"}
    if status in _FIELD_ERRORS:
        example["errors"] = _FIELD_ERRORS[status]
    return OpenApiResponse(Problem, description=text,
                           examples=[OpenApiExample(f"{status}", value=example, status_codes=[str(status)],
                                                    media_type=PROBLEM_CONTENT_TYPE)])


def operation(*, summary: str, description: str, responses: dict, errors: tuple[int, ...] = (),
              request=None, examples: list | None = None, parameters: list | None = None, tags: list | None = None,
              operation_id: str | None = None, error_text: dict[int, str] | None = None):
    """extend_schema with the problem responses this operation can give (401, 403 and 429 always);
    `error_text` says what a status means for this operation where the general text is not enough."""
    all_responses = dict(responses)
    for status in sorted({*ALWAYS, *errors, *(error_text or {})}):
        text = (error_text or {}).get(status, _ERROR_TEXT[status])
        all_responses[(status, PROBLEM_CONTENT_TYPE)] = _problem(status, text)
    return extend_schema(summary=summary, description=description, responses=all_responses, request=request,
                         examples=examples or [], parameters=parameters or [], tags=tags,
                         operation_id=operation_id)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "setup_portal.api.keys.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API key (make one on your profile page, or with "
                               "`python manage.py create_api_key USERNAME`): `Authorization: Bearer dcp_…`."}


def preprocess_only_management_api(endpoints):
    """The schema covers the management API; the instance API (/api/v1/crm/) is documented apart."""
    return [e for e in endpoints if e[0].startswith("/api/v1/") and not e[0].startswith("/api/v1/crm/")]


# OpenAPI links: where an answer's ids lead next. Schemathesis follows them in its stateful tests,
# and readers of the docs see how the operations chain (provision -> follow the job -> the instance).
_LINKS = {
    ("/api/v1/instances", "post", "202"): {
        "GetJob": ("getJob", {"job_id": "$response.body#/job"}),
        "GetInstance": ("getInstance", {"instance_id": "$response.body#/instance"}),
    },
    ("/api/v1/instances", "post", "201"): {
        "Provision": ("provisionSetup", {"setup_id": "$response.body#/setup"}),
    },
    ("/api/v1/instances/{instance_id}", "get", "200"): {
        "ListJobs": ("listInstanceJobs", {"instance_id": "$response.body#/id"}),
        "ListHealth": ("listInstanceHealth", {"instance_id": "$response.body#/id"}),
        "ListReviews": ("listInstanceReviews", {"instance_id": "$response.body#/id"}),
        "UpdateInstance": ("updateInstance", {"instance_id": "$response.body#/id"}),
        "Approve": ("approveInstance", {"instance_id": "$response.body#/id"}),
        "RequestChanges": ("requestInstanceChanges", {"instance_id": "$response.body#/id"}),
        "Disable": ("disableInstance", {"instance_id": "$response.body#/id"}),
        "Enable": ("enableInstance", {"instance_id": "$response.body#/id"}),
        "TestConnection": ("testInstanceConnection", {"instance_id": "$response.body#/id"}),
        "IssueToken": ("issueInstanceToken", {"instance_id": "$response.body#/id"}),
        "RotateWebhookSecret": ("rotateWebhookSecret", {"instance_id": "$response.body#/id"}),
        "GenerateNextCertificate": ("generateNextCertificate", {"instance_id": "$response.body#/id"}),
        "RotateCertificate": ("rotateCertificate", {"instance_id": "$response.body#/id"}),
        "Delete": ("deleteInstance", {"instance_id": "$response.body#/id"}),
    },
    ("/api/v1/instances", "get", "200"): {
        "GetInstance": ("getInstance", {"instance_id": "$response.body#/results/0/id"}),
        "Approve": ("approveInstance", {"instance_id": "$response.body#/results/0/id"}),
        "RequestChanges": ("requestInstanceChanges", {"instance_id": "$response.body#/results/0/id"}),
    },
    ("/api/v1/instances/{instance_id}/jobs", "get", "200"): {
        "GetJob": ("getJob", {"job_id": "$response.body#/results/0/id"}),
    },
    ("/api/v1/jobs/{job_id}", "get", "200"): {
        "Retry": ("retryJob", {"job_id": "$response.body#/id"}),
    },
    ("/api/v1/teams", "post", "201"): {
        "GetTeam": ("getTeam", {"team_id": "$response.body#/id"}),
        "RenameTeam": ("renameTeam", {"team_id": "$response.body#/id"}),
        "AddMember": ("addTeamMember", {"team_id": "$response.body#/id"}),
    },
    ("/api/v1/teams", "get", "200"): {
        "GetTeam": ("getTeam", {"team_id": "$response.body#/results/0/id"}),
    },
    ("/api/v1/teams/{team_id}", "get", "200"): {
        "RenameTeam": ("renameTeam", {"team_id": "$response.body#/id"}),
        "AddMember": ("addTeamMember", {"team_id": "$response.body#/id"}),
    },
    ("/api/v1/teams/{team_id}/members", "post", "201"): {
        "ChangeRole": ("changeMembershipRole", {"membership_id": "$response.body#/id"}),
        "Remove": ("removeMembership", {"membership_id": "$response.body#/id"}),
        "GetTeam": ("getTeam", {"team_id": "$response.body#/team"}),
        "GetUser": ("getUser", {"user_id": "$response.body#/user"}),
    },
    ("/api/v1/memberships/{membership_id}", "patch", "200"): {
        "Remove": ("removeMembership", {"membership_id": "$response.body#/id"}),
    },
    ("/api/v1/users", "post", "201"): {
        "GetUser": ("getUser", {"user_id": "$response.body#/id"}),
        "GrantPortalAdmin": ("grantPortalAdmin", {"user_id": "$response.body#/id"}),
        "RevokePortalAdmin": ("revokePortalAdmin", {"user_id": "$response.body#/id"}),
    },
    ("/api/v1/users", "get", "200"): {
        "GetUser": ("getUser", {"user_id": "$response.body#/results/0/id"}),
    },
    ("/api/v1/users/{user_id}", "get", "200"): {
        "GrantPortalAdmin": ("grantPortalAdmin", {"user_id": "$response.body#/id"}),
        "RevokePortalAdmin": ("revokePortalAdmin", {"user_id": "$response.body#/id"}),
    },
    ("/api/v1/group-mappings", "post", "201"): {
        "Delete": ("deleteGroupMapping", {"mapping_id": "$response.body#/id"}),
    },
    ("/api/v1/setups", "get", "200"): {
        "GetSetup": ("getSetup", {"setup_id": "$response.body#/results/0/id"}),
    },
}


def postprocess_links(result, generator, request, public):
    ids = {op.get("operationId") for item in result["paths"].values() for op in item.values()
           if isinstance(op, dict)}
    for (path, method, status), links in _LINKS.items():
        response = result["paths"].get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {name: {"operationId": op_id, "parameters": params}
                             for name, (op_id, params) in links.items() if op_id in ids}
    return result
