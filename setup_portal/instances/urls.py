from django.urls import path

from . import certificate_views, edit_views, progress_views, token_views, views

# The `instances:` names; config/urls.py adds the dashboard's (dashboard/urls.py) to them.
urlpatterns = [
    path("<uuid:instance_id>/", views.detail, name="detail"),
    path("<uuid:instance_id>/status.json", views.status_json, name="status"),
    path("<uuid:instance_id>/approve/", views.approve, name="approve"),
    path("<uuid:instance_id>/request-changes/", views.request_changes, name="request_changes"),
    path("<uuid:instance_id>/test-connection/", views.test_connection, name="test_connection"),
    path("<uuid:instance_id>/disable/", views.disable, name="disable"),
    path("<uuid:instance_id>/enable/", views.enable, name="enable"),
    path("<uuid:instance_id>/rotate-secret/", views.rotate_secret, name="rotate_secret"),
    path("<uuid:instance_id>/next-certificate.<str:fmt>", certificate_views.download_next, name="next_certificate"),
    path("<uuid:instance_id>/delete/", views.delete, name="delete"),
    path("<uuid:instance_id>/edit/", edit_views.edit, name="edit"),
    path("<uuid:instance_id>/token/", token_views.issue_token, name="issue_token"),
    path("<uuid:instance_id>/token/show/", token_views.reveal_token, name="reveal_token"),
    path("<uuid:instance_id>/token/copied/", token_views.confirm_token, name="confirm_token"),
    path("<uuid:instance_id>/progress/", progress_views.progress, name="progress"),
    path("<uuid:instance_id>/progress/stream/", progress_views.progress_stream, name="progress_stream"),
    path("<uuid:instance_id>/progress.json", progress_views.progress_json, name="progress_json"),
    path("<uuid:instance_id>/progress/retry/", progress_views.retry, name="retry_job"),
]
