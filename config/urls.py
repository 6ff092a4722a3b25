from django.urls import include, path, re_path

from setup_portal import views
from setup_portal.accounts import views as account_views
from setup_portal.dashboard import urls as dashboard_urls
from setup_portal.events import urls as event_urls
from setup_portal.instances import create_views, webhook_urls
from setup_portal.instances import urls as instance_urls
from setup_portal.wizard import urls as wizard_urls

# The wizard's pages, and "Promote…" on an instance, which starts a setup (the instances app's view).
wizard_patterns = [path("promote/<uuid:instance_id>/", create_views.promote, name="promote"), *wizard_urls.urlpatterns]

urlpatterns = [
    path("", views.home, name="home"),
    # Before allauth's own routes: with PASSWORD_RESET_ENABLED off these explain what to do instead.
    path("accounts/password/reset/", account_views.password_reset),
    re_path(r"^accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$", account_views.password_reset),
    path("accounts/", include("allauth.urls")),
    path("", include("setup_portal.api.keys.urls")),  # /account/api-keys/, /users/api-keys/, /api/v1/me
    path("users/", include("setup_portal.accounts.urls")),
    path("setup/", include((wizard_patterns, wizard_urls.app_name))),
    path("azure/", include("setup_portal.signin.urls")),
    path("instances/", include(([*dashboard_urls.urlpatterns, *instance_urls.urlpatterns], "instances"))),
    # The `events:` names: an instance's /instances/<id>/events/, /deliveries/, /poll/, /realtime/ and /notifications/.
    path("", include(([*webhook_urls.urlpatterns, *event_urls.urlpatterns], "events"))),
    path("hooks/", include("setup_portal.polling.hooks_urls")),  # Dataverse pushes changes here (real-time mode)
    path("audit/", include("setup_portal.audit.urls")),
    path("api/v1/crm/", include("setup_portal.api.crm.urls")),
    path("api/v1/", include("setup_portal.api.rest.urls")),
]
