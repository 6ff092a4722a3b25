from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as portal_urlpatterns


def bare(request):
    """What Django alone costs: no database, no template, no session work."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare), *portal_urlpatterns]
