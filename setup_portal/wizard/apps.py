from django.apps import AppConfig


class WizardConfig(AppConfig):
    name = "setup_portal.wizard"
    label = "wizard"
    verbose_name = "Setup wizard"

    def ready(self) -> None:
        from . import catalogue  # noqa: F401  (registers the wizard's stages)
