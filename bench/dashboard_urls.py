"""The portal's URLs plus the admin site (bench/dashboard_settings.py only)."""

from django.contrib import admin
from django.urls import path

from bench import dashboard_admin  # noqa: F401  (registers the Instance changelist)
from config.urls import urlpatterns as portal_urlpatterns

urlpatterns = [path("admin/", admin.site.urls), *portal_urlpatterns]
