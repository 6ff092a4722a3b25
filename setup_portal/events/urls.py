from django.urls import path

from . import notification_views, views

app_name = "events"

urlpatterns = [
    path("instances/<uuid:instance_id>/events/", views.settings_page, name="settings"),
    path("instances/<uuid:instance_id>/events/rotate-secret/", views.rotate_secret, name="rotate_secret"),
    path("instances/<uuid:instance_id>/deliveries/", views.deliveries, name="deliveries"),
    path("instances/<uuid:instance_id>/deliveries/test/", views.send_test_event, name="send_test"),
    path("instances/<uuid:instance_id>/deliveries/<int:delivery_id>/redeliver/", views.redeliver, name="redeliver"),
    path("instances/<uuid:instance_id>/poll/", views.poll_now, name="poll_now"),
    path("instances/<uuid:instance_id>/realtime/", views.set_realtime, name="set_realtime"),
    path("instances/<uuid:instance_id>/realtime/rotate-key/", views.rotate_hook_key, name="rotate_hook_key"),
    path("notifications/", notification_views.notifications, name="notifications"),
    path("notifications/<int:notification_id>/read/", notification_views.read_notification,
         name="read_notification"),
    path("notifications/read-all/", notification_views.read_all_notifications, name="read_all_notifications"),
    path("instances/<uuid:instance_id>/notifications/mute/", notification_views.mute_instance, name="mute_instance"),
    path("instances/<uuid:instance_id>/notifications/unmute/", notification_views.unmute_instance,
         name="unmute_instance"),
]
