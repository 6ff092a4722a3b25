from django.urls import path

from . import views

urlpatterns = [
    path("", views.user_list, name="user_list"),
    path("add/", views.user_add, name="user_add"),
    path("<int:user_id>/role/", views.user_role, name="user_role"),
    path("<int:user_id>/password/", views.user_password, name="user_password"),
]
