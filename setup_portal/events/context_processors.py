from __future__ import annotations

from .notifications import unread_count


class UnreadCount:
    """The signed-in user's unread notifications, counted (one query) only if a template asks."""

    def __init__(self, user):
        self.user = user
        self._count: int | None = None

    def __call__(self) -> int:
        if self._count is None:
            self._count = unread_count(self.user) if self.user.is_authenticated else 0
        return self._count


def notifications(request) -> dict:
    return {"unread_notifications": UnreadCount(request.user)}
