"""The portal's URLs plus one that fails on purpose, for the 500 page (see debug_off_settings)."""

from django.urls import path

from config.urls import urlpatterns as portal_urlpatterns


def fail(request):
    raise RuntimeError("a failure on purpose, to show the 500 page")


urlpatterns = [path("_fail/", fail), *portal_urlpatterns]
