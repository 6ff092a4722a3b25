"""The notifications' pages. config/urls.py serves them in the `events:` namespace together with an
instance's webhook pages and its mute buttons (instances/webhook_urls.py)."""

from django.urls import path

from . import notification_views

urlpatterns = [
    path("notifications/", notification_views.notifications, name="notifications"),
    path("notifications/<int:notification_id>/read/", notification_views.read_notification,
         name="read_notification"),
    path("notifications/read-all/", notification_views.read_all_notifications, name="read_all_notifications"),
]
