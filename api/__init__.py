# The URL namespace of the API's views, known here so that postflow.urls can mount them without importing
# them (api.views brings django-ninja and pydantic; postflow.urls says why that waits).
NAMESPACE = "api"
