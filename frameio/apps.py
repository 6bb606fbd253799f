from django.apps import AppConfig


class FrameioConfig(AppConfig):
    name = "frameio"
    verbose_name = "Frame.io"
