"""The dashboard's pages under /instances/. Their URL names are the `instances:` namespace's
(instances:dashboard, instances:export), which config/urls.py makes of these and the instance pages."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("export.csv", views.export_csv, name="export"),
]
