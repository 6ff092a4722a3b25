"""The sandbox's front page: what is running, how to sign in, what changed in Dataverse
lately and how much of each user's service-protection allowance is left."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from .. import info
from .common import current, page

RECENT_CHANGES = 20


def home(request: HttpRequest) -> HttpResponse:
    store = current()
    directory = store.directory
    environments = []
    for name, data in store.data.items():
        changes = data.store.recent_changes(RECENT_CHANGES)
        for change in changes:
            change["by_name"] = data.users.get(change["by"], change["by"])
            change["when"] = change["at"].replace("T", " ").rstrip("Z")
        environments.append({"name": name, "version": data.store.version, "changes": changes})
    usage = store.limiter.report()
    for row in usage:
        data = store.data.get(row["environment"])
        row["display"] = (data.users.get(row["systemuserid"]) if data else None) or row["name"]
    return page("home.html", {"tenant": directory.tenant, "users": directory.users.values(),
                              "apps": directory.apps.values(), "info": info.sandbox_info(),
                              "environments": environments, "limits": store.limiter.limits, "usage": usage})
