"""Sign in with Microsoft: allauth's OpenID Connect provider, with certificate client authentication.

allauth's provider authenticates the portal to the token endpoint with a client secret only. With
MICROSOFT_LOGIN_CERTIFICATE_FILE set, the code is redeemed with a signed client assertion
(private_key_jwt) instead: `provider_class` in SOCIALACCOUNT_PROVIDERS swaps in this package's
provider, whose login and callback views (same URLs and names as allauth's) use its adapter.
"""
