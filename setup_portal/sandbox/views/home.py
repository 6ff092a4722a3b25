"""The sandbox's front page: what is running and how to sign in."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from .. import info
from .common import current, page


def home(request: HttpRequest) -> HttpResponse:
    directory = current().directory
    return page("home.html", {"tenant": directory.tenant, "users": directory.users.values(),
                              "apps": directory.apps.values(), "info": info.sandbox_info()})
