from pathlib import Path

from celery import shared_task
from django.conf import settings


@shared_task(name="portal.ping")
def ping(nonce: str) -> str:
    """Round trip through the broker: writes the nonce where the caller can see it."""
    path = Path(settings.VAR_DIR) / "ping" / nonce
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("pong")
    return "pong"
