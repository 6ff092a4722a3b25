from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "setup_portal.events"
    label = "events"
    verbose_name = "Events"
