from django.urls import path

from . import views

app_name = "events"

urlpatterns = [
    path("instances/<uuid:instance_id>/events/", views.settings_page, name="settings"),
    path("instances/<uuid:instance_id>/events/rotate-secret/", views.rotate_secret, name="rotate_secret"),
    path("instances/<uuid:instance_id>/deliveries/", views.deliveries, name="deliveries"),
    path("instances/<uuid:instance_id>/deliveries/test/", views.send_test_event, name="send_test"),
    path("instances/<uuid:instance_id>/deliveries/<int:delivery_id>/redeliver/", views.redeliver, name="redeliver"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/<int:notification_id>/read/", views.read_notification, name="read_notification"),
    path("notifications/read-all/", views.read_all_notifications, name="read_all_notifications"),
]
