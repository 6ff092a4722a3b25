"""The notifications' pages. config/urls.py serves them in the `events:` namespace together with an
instance's webhook pages (instances/webhook_urls.py)."""

from django.urls import path

from . import notification_views

urlpatterns = [
    path("notifications/", notification_views.notifications, name="notifications"),
    path("notifications/<int:notification_id>/read/", notification_views.read_notification,
         name="read_notification"),
    path("notifications/read-all/", notification_views.read_all_notifications, name="read_all_notifications"),
    path("instances/<uuid:instance_id>/notifications/mute/", notification_views.mute_instance, name="mute_instance"),
    path("instances/<uuid:instance_id>/notifications/unmute/", notification_views.unmute_instance,
         name="unmute_instance"),
]
