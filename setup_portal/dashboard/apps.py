from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The dashboard: an app for its management commands (seed_instances, check_counters) and Celery
    task; no models (the counters are stats/models.py's, the instances instances/models.py's)."""

    name = "setup_portal.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
