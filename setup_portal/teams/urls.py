from django.urls import path

from . import views

urlpatterns = [
    path("", views.team_list, name="team_list"),
    path("<int:team_id>/", views.team_detail, name="team_detail"),
    path("<int:team_id>/rename/", views.team_rename, name="team_rename"),
    path("<int:team_id>/members/", views.team_member_add, name="team_member_add"),
]
