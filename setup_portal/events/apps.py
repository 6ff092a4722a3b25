from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "setup_portal.events"
    label = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        # The poller's Celery tasks live in polling.py (autodiscovery only imports tasks.py).
        from . import polling  # noqa: F401
