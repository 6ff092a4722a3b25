"""Where Dataverse pushes changes to (mounted at /hooks/ in config/urls.py): no session, no CSRF;
the instance's key in a header authenticates each push."""

from django.urls import path

from . import intake

app_name = "events_hooks"

urlpatterns = [
    path("dataverse/<uuid:instance_id>/", intake.dataverse_push, name="dataverse"),
]
