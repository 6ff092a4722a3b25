from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "setup_portal.audit"
    label = "audit"
    verbose_name = "Audit log"
