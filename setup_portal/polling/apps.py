from django.apps import AppConfig


class PollingConfig(AppConfig):
    """Change polling and Dataverse-webhook intake: an app for its template tags and Celery tasks; no models
    (PollState, RealtimeHook and RealtimeStep stay in events/models.py)."""

    name = "setup_portal.polling"
    label = "polling"
    verbose_name = "Change polling"

    def ready(self) -> None:
        # The poller's Celery tasks live in poller.py (autodiscovery only imports tasks.py).
        from . import poller  # noqa: F401
