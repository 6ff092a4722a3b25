from django.contrib import admin
from django.urls import include, path

from setup_portal.accounts import views as account_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", account_views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("users/", include("setup_portal.accounts.urls")),
    path("setup/", include("setup_portal.wizard.urls")),
    path("azure/", include("setup_portal.azure.urls")),
    path("instances/", include("setup_portal.instances.urls")),
    path("audit/", include("setup_portal.audit.urls")),
    path("django-admin/", admin.site.urls),
]
