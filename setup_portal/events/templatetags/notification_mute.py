"""The instance page's Mute / Unmute button, so the instance view itself needs no change."""

from __future__ import annotations

from django import template

from ..notifications import is_muted

register = template.Library()


@register.inclusion_tag("events/_mute_form.html", takes_context=True)
def mute_form(context, inst) -> dict:
    request = context["request"]
    return {"inst": inst, "muted": is_muted(request.user, inst), "next": request.get_full_path(),
            "csrf_token": context.get("csrf_token")}
