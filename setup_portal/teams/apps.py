from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "setup_portal.teams"
    label = "teams"
    verbose_name = "Teams"
