from django.apps import AppConfig


class AzureConfig(AppConfig):
    name = "setup_portal.azure"
    label = "azure"
    verbose_name = "Azure AD"
