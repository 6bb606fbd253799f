from django.apps import AppConfig


class PostflowConfig(AppConfig):
    name = "postflow"
