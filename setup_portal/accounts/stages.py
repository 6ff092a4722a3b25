"""The portal's sign-in stages: allauth's own, with its TOTP stage aware of Entra's MFA."""

from __future__ import annotations

from allauth.mfa.stages import AuthenticateStage


def entra_did_mfa(login) -> bool:
    """The sign-in came from Microsoft and its id_token's `amr` says Entra did multi-factor."""
    sociallogin = (login.signal_kwargs or {}).get("sociallogin")
    if sociallogin is None:
        return False
    claims = sociallogin.account.extra_data.get("id_token") or {}
    return "mfa" in (claims.get("amr") or [])


class PortalMfaStage(AuthenticateStage):
    """The portal's TOTP for a user who has it, except after a Microsoft sign-in that already
    had Entra's MFA (asking twice adds nothing). Local accounts are always asked."""

    def _should_handle(self, request) -> bool:
        if entra_did_mfa(self.login):
            return False
        return super()._should_handle(request)
