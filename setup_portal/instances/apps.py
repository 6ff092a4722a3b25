from django.apps import AppConfig


class InstancesConfig(AppConfig):
    name = "setup_portal.instances"
    label = "instances"
    verbose_name = "Instances"
