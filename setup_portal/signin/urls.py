from django.urls import path

from . import views

# The namespace and paths stay "azure" (/azure/callback/ is the redirect URI registered with Azure AD).
app_name = "azure"

urlpatterns = [
    path("authorize/<uuid:setup_id>/", views.authorize, name="authorize"),
    path("adminconsent/<uuid:setup_id>/", views.admin_consent, name="admin_consent"),
    path("callback/", views.callback, name="callback"),
    path("reauthorize/<uuid:instance_id>/", views.reauthorize, name="reauthorize"),
]
