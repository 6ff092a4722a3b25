"""The sandbox's own URLconf, served only by `manage.py run_sandbox` — never included
in config/urls.py, so the portal itself never answers these paths.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest, JsonResponse
from django.urls import path

from .views import admin, dataverse, discovery, graph, identity, token, webhooks
from .views.home import home

LISTENER_KEY = "sandbox.listener"


def backchannel(view):
    """Token, keys, discovery, Web API and hooks answer only over HTTPS, like Azure's."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if request.META.get(LISTENER_KEY) != "https":
            return JsonResponse({"error": "invalid_request",
                                 "error_description": "This endpoint is served on the sandbox's HTTPS listener."},
                                status=404)
        return view(request, *args, **kwargs)

    return wrapped


urlpatterns = [
    path("", home, name="home"),
    path("common/userrealm/<str:username>", backchannel(identity.user_realm)),
    path("oidc/userinfo", backchannel(identity.userinfo)),
    path("graph/v1.0/me/getMemberGroups", backchannel(graph.get_member_groups)),
    path("graph/v1.0/users/<str:user_id>/getMemberGroups", backchannel(graph.get_member_groups)),
    path("<str:tenant>/v2.0/.well-known/openid-configuration", backchannel(identity.openid_configuration)),
    path("<str:tenant>/discovery/v2.0/keys", backchannel(identity.keys)),
    path("<str:tenant>/oauth2/v2.0/token", backchannel(token.token)),
    path("<str:tenant>/oauth2/v2.0/authorize", identity.authorize, name="authorize"),
    path("<str:tenant>/login", identity.sign_in, name="sign_in"),
    path("<str:tenant>/consent", identity.consent, name="consent"),
    path("<str:tenant>/v2.0/adminconsent", identity.admin_consent, name="adminconsent"),
    path("<str:tenant>/oauth2/v2.0/logout", identity.logout, name="logout"),
    path("dataverse/<str:env_name>/api/data/v9.2/", backchannel(dataverse.web_api), {"path": ""}),
    path("dataverse/<str:env_name>/api/data/v9.2/<path:path>", backchannel(dataverse.web_api)),
    path("dataverse/<str:env_name>/<path:path>", backchannel(dataverse.not_web_api)),
    path("dataverse/<str:env_name>/", backchannel(dataverse.not_web_api)),
    path("dataverse/<str:env_name>", backchannel(dataverse.not_web_api)),
    path("api/discovery/v2.0/Instances", backchannel(discovery.instances)),
    path("_sandbox/health", backchannel(admin.health)),
    path("_sandbox/faults", backchannel(admin.faults)),
    path("_sandbox/webhook-faults", backchannel(admin.webhook_faults)),
    path("_sandbox/reset", backchannel(admin.reset)),
    path("_sandbox/groups/<str:group_id>/members", backchannel(graph.group_members)),
    path("_sandbox/expire-refresh-tokens", backchannel(admin.expire_refresh_tokens)),
    path("_sandbox/apps/<str:client_id>/secrets", backchannel(admin.add_secret)),
    path("_sandbox/apps/<str:client_id>/secrets/<str:secret_id>/expire", backchannel(admin.expire_secret)),
    path("_sandbox/apps/<str:client_id>/certificates", backchannel(admin.add_certificate)),
    path("_sandbox/dataverse/limits", backchannel(admin.dataverse_limits)),
    path("_sandbox/dataverse/columns", backchannel(admin.dataverse_columns)),
    path("_sandbox/dataverse/<str:env_name>/changes", backchannel(admin.dataverse_changes)),
    path("_sandbox/dataverse/<str:env_name>/expire-delta-tokens", backchannel(admin.expire_delta_tokens)),
    # Webhook bins answer on both listeners: the page is for browsers, and plain http to
    # loopback is a callback URL the portal accepts while the sandbox is on.
    path("_sandbox/webhooks/<str:name>", webhooks.webhook_bin),
    path("_sandbox/webhooks/<str:name>/config", webhooks.webhook_bin_config),
]
