from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "setup_portal.stats"
    label = "stats"
    verbose_name = "Dashboard counters"
