from django.apps import AppConfig


class InstancesConfig(AppConfig):
    name = "setup_portal.instances"
    label = "instances"
    verbose_name = "Instances"

    def ready(self) -> None:
        from .create_views import register_stage

        register_stage()  # stage 8 of the wizard, "Create instance"
