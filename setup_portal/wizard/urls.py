from django.urls import path

from . import certificate_views, views

app_name = "wizard"

urlpatterns = [
    path("", views.drafts, name="drafts"),
    path("new/", views.new, name="new"),
    path("sandbox/", views.use_sandbox, name="use_sandbox"),
    path("promote/<uuid:instance_id>/", views.promote, name="promote"),
    path("<uuid:setup_id>/", views.resume, name="resume"),
    path("<uuid:setup_id>/discard/", views.discard, name="discard"),
    path("<uuid:setup_id>/certificate.<str:fmt>", certificate_views.download, name="certificate"),
    path("<uuid:setup_id>/<str:stage>/", views.stage, name="stage"),
]
