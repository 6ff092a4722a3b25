from django.urls import path

from . import views

app_name = "api_keys"

urlpatterns = [
    path("account/api-keys/", views.my_keys, name="mine"),
    path("account/api-keys/<int:key_id>/revoke/", views.revoke, name="revoke"),
    path("users/api-keys/", views.all_keys, name="all"),
    path("api/v1/me", views.MeView.as_view(), name="me"),
]
