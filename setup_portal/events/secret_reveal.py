"""A new webhook signing secret is shown once: the session remembers which endpoints' secrets its
next Events page may show (instances/webhook_views.py), and stage 8 turns webhooks on with it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest

from . import endpoints

REVEAL_KEY = "events.reveal_secret"  # session: endpoint ids whose new secret is shown once


def mark_secret_for_reveal(request: HttpRequest, endpoint_id: int) -> None:
    """The next page that shows this endpoint to this admin shows its new secret, once."""
    request.session[REVEAL_KEY] = [*request.session.get(REVEAL_KEY, []), endpoint_id]


def take_secret_reveal(request: HttpRequest, endpoint) -> str:
    """The endpoint's secret if this session was promised one look at it; the promise is used up."""
    pending = request.session.get(REVEAL_KEY, [])
    if endpoint is None or endpoint.pk not in pending:
        return ""
    request.session[REVEAL_KEY] = [pk for pk in pending if pk != endpoint.pk]
    return str(endpoint.secret)


def set_up_webhooks(request: HttpRequest, instance, endpoint_settings: dict) -> None:
    """Wizard stage 8 turned events on: save them, and promise the admin one look at the secret."""
    endpoint = endpoints.do_update_endpoint(instance, **endpoint_settings, acting_user=request.user)
    mark_secret_for_reveal(request, endpoint.pk)
    messages.info(request, "Webhooks are on. Copy the signing secret from the instance's Events page; "
                           "it is shown there once.")
