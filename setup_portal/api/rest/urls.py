"""/api/v1/: the management API, its OpenAPI schema and its docs (the instance API is /api/v1/crm/)."""

from django.urls import path

from . import activity, certificates, crm_docs, docs, group_mappings, instances, people

app_name = "rest"

urlpatterns = [
    path("instances", instances.InstanceList.as_view(), name="instances"),
    path("instances/<str:instance_id>", instances.InstanceDetail.as_view(), name="instance"),
    path("instances/<str:instance_id>/disable", instances.InstanceDisable.as_view(), name="instance-disable"),
    path("instances/<str:instance_id>/promote", instances.InstancePromote.as_view(), name="instance-promote"),
    path("instances/<str:instance_id>/enable", instances.InstanceEnable.as_view(), name="instance-enable"),
    path("instances/<str:instance_id>/test-connection", instances.InstanceTestConnection.as_view(),
         name="instance-test-connection"),
    path("instances/<str:instance_id>/poll", instances.InstancePoll.as_view(), name="instance-poll"),
    path("instances/<str:instance_id>/token", instances.InstanceToken.as_view(), name="instance-token"),
    path("instances/<str:instance_id>/next-certificate", certificates.InstanceNextCertificate.as_view(),
         name="instance-next-certificate"),
    path("instances/<str:instance_id>/certificate", certificates.InstanceCertificate.as_view(),
         name="instance-certificate"),
    path("instances/<str:instance_id>/webhook-secret", instances.InstanceWebhookSecret.as_view(),
         name="instance-webhook-secret"),
    path("instances/<str:instance_id>/jobs", activity.InstanceJobs.as_view(), name="instance-jobs"),
    path("instances/<str:instance_id>/health", activity.InstanceHealth.as_view(), name="instance-health"),
    path("instances/<str:instance_id>/reviews", activity.InstanceReviews.as_view(), name="instance-reviews"),
    path("instances/<str:instance_id>/approve", activity.InstanceApprove.as_view(), name="instance-approve"),
    path("instances/<str:instance_id>/request-changes", activity.InstanceRequestChanges.as_view(),
         name="instance-request-changes"),
    path("instances/<str:instance_id>/crm-openapi.json", crm_docs.InstanceCrmSchema.as_view(),
         name="instance-crm-schema"),
    path("instances/<str:instance_id>/crm-docs/", crm_docs.InstanceCrmDocs.as_view(), name="instance-crm-docs"),
    path("jobs/<str:job_id>", activity.JobDetail.as_view(), name="job"),
    path("jobs/<str:job_id>/retry", activity.JobRetry.as_view(), name="job-retry"),
    path("setups", activity.SetupList.as_view(), name="setups"),
    path("setups/<str:setup_id>", activity.SetupDetail.as_view(), name="setup"),
    path("setups/<str:setup_id>/provision", certificates.SetupProvision.as_view(), name="setup-provision"),
    path("audit-events", activity.AuditEventList.as_view(), name="audit-events"),
    path("teams", people.TeamList.as_view(), name="teams"),
    path("teams/<str:team_id>", people.TeamDetail.as_view(), name="team"),
    path("teams/<str:team_id>/members", people.TeamMembers.as_view(), name="team-members"),
    path("memberships/<str:membership_id>", people.MembershipDetail.as_view(), name="membership"),
    path("users", people.UserList.as_view(), name="users"),
    path("users/<str:user_id>", people.UserDetail.as_view(), name="user"),
    path("users/<str:user_id>/portal-admin", people.UserPortalAdmin.as_view(), name="user-portal-admin"),
    path("group-mappings", group_mappings.GroupMappingList.as_view(), name="group-mappings"),
    path("group-mappings/<str:mapping_id>", group_mappings.GroupMappingDetail.as_view(), name="group-mapping"),
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.SwaggerView.as_view(url_name="rest:schema"), name="docs"),
    path("redoc/", docs.RedocView.as_view(url_name="rest:schema"), name="redoc"),
]
