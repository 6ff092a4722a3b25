from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "setup_portal.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from .ratelimit import configured_limit

        configured_limit()  # a CRM_RATE_LIMIT that does not parse stops the start, not the first call
