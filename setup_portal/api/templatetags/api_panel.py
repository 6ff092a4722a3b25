"""The instance page's "API" panel, served by the API part: the instance page includes its template,
which loads the figures here, so the instance view needs nothing from the API."""

from __future__ import annotations

from django import template

from setup_portal.api.panel import panel

register = template.Library()


@register.simple_tag
def api_panel(inst) -> dict:
    return panel(inst)
