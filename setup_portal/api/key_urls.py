from django.urls import path

from . import key_views

app_name = "api_keys"

urlpatterns = [
    path("account/api-keys/", key_views.my_keys, name="mine"),
    path("account/api-keys/<int:key_id>/revoke/", key_views.revoke, name="revoke"),
    path("users/api-keys/", key_views.all_keys, name="all"),
    path("api/v1/me", key_views.MeView.as_view(), name="me"),
]
