"""Server-side OAuth state: pending flows keyed by `state`, and granted authorizations."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models

from setup_portal.crypto import EncryptedTextField

# How long an answer from Azure AD is awaited, for every kind of flow: codes live about ten minutes anyway.
FLOW_LIFETIME = timedelta(minutes=10)


class AuthFlow(models.Model):
    """A request sent to Azure AD, waiting for its answer: an msal auth-code flow (holds the PKCE
    verifier, encrypted) or an admin-consent request (no flow).

    Keyed by a random `state`, single-use and bound to the user who started it, so the
    callback works even when the browser does not send the session cookie back (a cross-site
    form_post under SameSite=Lax). Once answered it keeps the outcome (the authorization or
    the error), so reloading the page after the callback explains it again.
    """

    class Purpose(models.TextChoices):
        SETUP = "setup", "Setup authorization"
        REAUTH = "reauth", "Re-authentication"
        ADMIN_CONSENT = "adminconsent", "Admin consent"
        DISCOVERY = "discovery", "Environment discovery"

    state = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    setup = models.ForeignKey("wizard.Setup", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    instance = models.ForeignKey("instances.Instance", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.SETUP)
    flow = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)
    # The outcome, once answered: the authorization it produced, or why it failed.
    authorization = models.OneToOneField("Authorization", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="flow")
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.CharField(max_length=300, blank=True)
    # Environment discovery only: where to look (service, tenant) and, once answered, the environments
    # found and who signed in. Never a token; emptied once used or after a few minutes (azure.discovery).
    discovered = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} flow {self.state[:8]}…"

    def record_error(self, code: str, detail: str) -> None:
        """The answer was a refusal (or could not be used): kept, so a reload explains it again."""
        self.error_code, self.error_detail = code[:64], detail[:300]
        self.save(update_fields=["error_code", "error_detail"])


class Authorization(models.Model):
    """A successful sign-in + consent: the encrypted msal token cache and who granted it."""

    setup = models.ForeignKey("wizard.Setup", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="authorizations")
    instance = models.ForeignKey("instances.Instance", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="authorizations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    token_cache = EncryptedTextField(blank=True)
    home_account_id = models.CharField(max_length=200, blank=True)
    # Non-secret claims from the verified id_token: tid, oid, preferred_username, name
    claims = models.JSONField(default=dict, blank=True)
    scopes = models.CharField(max_length=500, blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Authorization {self.pk} by {self.claims.get('preferred_username', 'unknown')}"
