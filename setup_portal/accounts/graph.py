"""Microsoft Graph for the portal's own sign-in: the groups of a user whose id_token had too many
to list (the groups overage claim). The caller passes the requests session (its CA and timeout)."""

from __future__ import annotations

import requests


class GraphError(Exception):
    """Graph did not answer with the user's groups; the message says why (never the token)."""


# Reference: https://learn.microsoft.com/graph/api/directoryobject-getmembergroups
def member_groups(session: requests.Session, *, graph_url: str, access_token: str) -> list[str]:
    """The object IDs of the signed-in user's security groups (transitive), from /me/getMemberGroups."""
    try:
        response = session.post(f"{graph_url.rstrip('/')}/v1.0/me/getMemberGroups",
                                json={"securityEnabledOnly": True},
                                headers={"Authorization": f"Bearer {access_token}"})
    except requests.RequestException as exc:
        raise GraphError(f"Microsoft Graph could not be reached ({type(exc).__name__}).") from None
    if response.status_code != 200:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = ""
        raise GraphError(f"Microsoft Graph answered {response.status_code} {code}".strip() + ".")
    try:
        value = response.json()["value"]
    except (ValueError, KeyError, TypeError):
        raise GraphError("Microsoft Graph's answer held no list of groups.") from None
    return [str(group_id) for group_id in value if isinstance(group_id, str)]
