from django.apps import AppConfig


class WizardConfig(AppConfig):
    name = "setup_portal.wizard"
    label = "wizard"
    verbose_name = "Setup wizard"
