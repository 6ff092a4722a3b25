from django.conf import settings

from setup_portal.teams import roles


def portal(request) -> dict:
    user = request.user
    return {
        "portal_version": settings.VERSION,
        "sandbox_enabled": settings.SANDBOX_ENABLED,
        "user_is_admin": roles.is_admin(user),
        "user_is_portal_admin": roles.is_portal_admin(user),
        "user_is_team_lead": roles.is_team_lead(user),
        # Sees team pages (instances, drafts, audit): a team role, or a portal administrator (sees all).
        "user_can_review": roles.can_review(user) or roles.is_portal_admin(user),
        "user_role": roles.role_label(user) if user.is_authenticated else "",
        "microsoft_login_enabled": bool(settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]),
        "local_login_enabled": settings.LOCAL_LOGIN_ENABLED,
    }
