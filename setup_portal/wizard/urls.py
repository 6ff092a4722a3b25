from django.urls import path

from . import certificate_views, views

app_name = "wizard"

# "Promote…" (wizard:promote) is the instances app's view: config/urls.py adds it to these.

urlpatterns = [
    path("", views.drafts, name="drafts"),
    path("new/", views.new, name="new"),
    path("sandbox/", views.use_sandbox, name="use_sandbox"),
    path("<uuid:setup_id>/", views.resume, name="resume"),
    path("<uuid:setup_id>/discard/", views.discard, name="discard"),
    path("<uuid:setup_id>/certificate.<str:fmt>", certificate_views.download, name="certificate"),
    path("<uuid:setup_id>/<str:stage>/", views.stage, name="stage"),
]
