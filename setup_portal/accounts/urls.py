from django.urls import path

from . import group_mapping_views, team_views, views

urlpatterns = [
    path("", views.user_list, name="user_list"),
    path("add/", views.user_add, name="user_add"),
    path("<int:user_id>/", views.user_detail, name="user_detail"),
    path("<int:user_id>/teams/", views.membership_add, name="membership_add"),
    path("<int:user_id>/portal-admin/", views.user_portal_admin, name="user_portal_admin"),
    path("<int:user_id>/password/", views.user_password, name="user_password"),
    path("memberships/<int:membership_id>/role/", views.membership_role, name="membership_role"),
    path("memberships/<int:membership_id>/remove/", views.membership_remove, name="membership_remove"),
    path("teams/", team_views.team_list, name="team_list"),
    path("teams/<int:team_id>/", team_views.team_detail, name="team_detail"),
    path("teams/<int:team_id>/rename/", team_views.team_rename, name="team_rename"),
    path("teams/<int:team_id>/members/", team_views.team_member_add, name="team_member_add"),
    path("entra-groups/", group_mapping_views.group_mapping_list, name="group_mapping_list"),
    path("entra-groups/<int:mapping_id>/remove/", group_mapping_views.group_mapping_remove,
         name="group_mapping_remove"),
]
