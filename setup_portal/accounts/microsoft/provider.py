"""allauth's OpenID Connect provider (same id, URLs and URL names) with this package's adapter.

Named in SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]; allauth takes the
provider's URLs from `<package>.urls`, so the login and callback views are this package's.
No `provider_classes` here: this module is not an installed app's provider module.
"""

from __future__ import annotations

from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider

from .views import MicrosoftOAuth2Adapter


class MicrosoftProvider(OpenIDConnectProvider):
    oauth2_adapter_class = MicrosoftOAuth2Adapter
    package = "setup_portal.accounts.microsoft"
