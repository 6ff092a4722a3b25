from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "setup_portal.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox tenant"
