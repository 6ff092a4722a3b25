"""The instance API's upkeep: the call log and stored idempotent answers are pruned by age."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .crm.idempotency import KEEP_FOR
from .models import ApiCall, IdempotentResponse

BATCH = 5000


@shared_task(name="api.prune_call_log")
def prune_call_log() -> int:
    """Delete calls older than API_CALL_RETENTION_DAYS (in batches, so a backlog never holds a long lock)
    and idempotent answers older than their 24 hours. Returns the number of calls deleted."""
    cutoff = timezone.now() - timedelta(days=settings.API_CALL_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(ApiCall.objects.filter(created_at__lt=cutoff).order_by().values_list("id", flat=True)[:BATCH])
        if not ids:
            break
        deleted += ApiCall.objects.filter(id__in=ids).delete()[0]
    IdempotentResponse.objects.filter(created_at__lt=timezone.now() - KEEP_FOR).delete()
    return deleted
