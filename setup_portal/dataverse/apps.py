from django.apps import AppConfig


class DataverseConfig(AppConfig):
    name = "setup_portal.dataverse"
    label = "dataverse"
    verbose_name = "Dataverse"
