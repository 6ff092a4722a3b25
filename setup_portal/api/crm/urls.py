from django.urls import path, re_path

from . import batch_views, bulk_views, objects, openapi_views, views

app_name = "crm_api"

urlpatterns = [
    # Everything after raw/ (even '', '//', '..' or a newline) reaches the view, which refuses what it must.
    re_path(r"^raw/(?P<path>[\s\S]*)$", views.RawView.as_view(), name="raw"),
    path("openapi.json", openapi_views.OpenApiView.as_view(), name="openapi"),
    path("batch", batch_views.BatchView.as_view(), name="batch"),
    path("objects", objects.ObjectsView.as_view(), name="objects"),
    path("objects/refresh", objects.ObjectsRefreshView.as_view(), name="objects_refresh"),
    path("objects/<str:name>/metadata", objects.ObjectMetadataView.as_view(), name="object_metadata"),
    path("<str:resource>", views.CollectionView.as_view(), name="collection"),
    path("<str:resource>/bulk", bulk_views.BulkView.as_view(), name="bulk"),
    path("<str:resource>/<uuid:record_id>", views.RecordView.as_view(), name="record"),
    re_path(r"^[\s\S]*$", views.not_found),
]
