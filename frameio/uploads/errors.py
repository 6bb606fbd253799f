"""How an upload attempt ends early: the three exceptions the upload modules raise and catch."""


class UploadFailed(Exception):
    """This attempt failed; `permanent` ones are not tried again automatically."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class RenderUnreadable(UploadFailed):
    """The verified file is gone or changed: the render goes back to the watcher, the upload fails."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=True)


class UrlsExpired(Exception):
    """A part URL answered 403 "Request has expired": the Frame.io file must be created again."""


class Stopped(Exception):
    """The lease was lost, the upload cancelled, or the worker asked to stop (postflow.lib.shutdown)."""
