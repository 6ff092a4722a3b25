"""An instance's webhook pages, polling buttons and mute buttons, under /instances/<id>/. Their URL
names are the `events:` namespace's (events:settings, events:deliveries, …), which config/urls.py
makes of these and the notifications' pages (events/urls.py)."""

from django.urls import path

from . import mute_views
from . import webhook_views as views

urlpatterns = [
    path("instances/<uuid:instance_id>/events/", views.settings_page, name="settings"),
    path("instances/<uuid:instance_id>/events/rotate-secret/", views.rotate_secret, name="rotate_secret"),
    path("instances/<uuid:instance_id>/deliveries/", views.deliveries, name="deliveries"),
    path("instances/<uuid:instance_id>/deliveries/test/", views.send_test_event, name="send_test"),
    path("instances/<uuid:instance_id>/deliveries/<int:delivery_id>/redeliver/", views.redeliver, name="redeliver"),
    path("instances/<uuid:instance_id>/poll/", views.poll_now, name="poll_now"),
    path("instances/<uuid:instance_id>/realtime/", views.set_realtime, name="set_realtime"),
    path("instances/<uuid:instance_id>/realtime/rotate-key/", views.rotate_hook_key, name="rotate_hook_key"),
    path("instances/<uuid:instance_id>/notifications/mute/", mute_views.mute_instance, name="mute_instance"),
    path("instances/<uuid:instance_id>/notifications/unmute/", mute_views.unmute_instance, name="unmute_instance"),
]
