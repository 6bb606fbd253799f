from __future__ import annotations

from django import forms
from django.conf import settings

from frameio.auth import Target, target_with_project
from frameio.client import FrameioClient


class ProjectChoiceForm(forms.Form):
    """Account → workspace → project, each list read from Frame.io with the stored connection.

    Only ids that Frame.io lists for this user are accepted; ids fixed by FRAMEIO_*_ID settings are
    shown but cannot be changed here. Changing the account or workspace reloads the lists below it
    (a GET of the same form); the POST saves.
    """

    account = forms.ChoiceField(label="Account")
    workspace = forms.ChoiceField(label="Workspace", required=False)
    project = forms.ChoiceField(label="Project", required=False)
    new_project_name = forms.CharField(label="…or create a project named", required=False, max_length=255, strip=True)

    def __init__(self, data=None, *, client: FrameioClient, current: Target, selection=None) -> None:
        super().__init__(data)
        self.client = client
        data = data if data is not None else (selection or {})
        self.accounts = {a.id: a for a in client.list_accounts()}
        account_id = self._pick("account", settings.FRAMEIO_ACCOUNT_ID, current.account_id, self.accounts, data)
        self.workspaces = (
            {w.id: w for w in client.list_workspaces(account_id=account_id)} if account_id in self.accounts else {}
        )
        workspace_id = self._pick(
            "workspace", settings.FRAMEIO_WORKSPACE_ID, current.workspace_id, self.workspaces, data
        )
        self.projects = (
            {p.id: p for p in client.list_projects(account_id=account_id, workspace_id=workspace_id)}
            if workspace_id in self.workspaces
            else {}
        )
        self._pick("project", settings.FRAMEIO_DEFAULT_PROJECT_ID, current.project_id, self.projects, data)
        self.fields["account"].choices = [(a.id, a.display_name or a.id) for a in self.accounts.values()]
        self.fields["workspace"].choices = [("", "—")] + [(w.id, w.name or w.id) for w in self.workspaces.values()]
        self.fields["project"].choices = [("", "—")] + [(p.id, p.name or p.id) for p in self.projects.values()]
        if not self.fields["new_project_name"].initial:
            self.fields["new_project_name"].widget.attrs["placeholder"] = settings.POSTFLOW_PROJECT_NAME
        if settings.FRAMEIO_DEFAULT_PROJECT_ID:
            self.fields["new_project_name"].disabled = True

    def _pick(self, name: str, fixed: str, previous: str, options: dict, data) -> str:
        """The selected id: fixed by settings, else submitted, else the previous choice, else the only one."""
        if fixed:
            self.fields[name].disabled = True
            self.fields[name].initial = fixed
            return fixed
        chosen = data.get(name) or (previous if previous in options else "")
        if not chosen and len(options) == 1:
            chosen = next(iter(options))
        self.fields[name].initial = chosen
        return chosen

    def clean(self):
        cleaned = super().clean()
        account, workspace = cleaned.get("account"), cleaned.get("workspace")
        if account not in self.accounts:
            self.add_error("account", "Not an account of this Frame.io user.")
        if workspace not in self.workspaces:
            self.add_error("workspace", "Choose a workspace of this account.")
        project, new_name = cleaned.get("project"), cleaned.get("new_project_name")
        if project and new_name:
            self.add_error("new_project_name", "Choose a project or give a new name, not both.")
        elif new_name:
            pass
        elif not project:
            self.add_error("project", "Choose a project, or give a name to create one.")
        elif project not in self.projects:
            self.add_error("project", "Not a project of this workspace.")
        return cleaned

    def save_target(self) -> Target:
        """The chosen target; creates the project first when a new name was given."""
        account = self.accounts[self.cleaned_data["account"]]
        workspace = self.workspaces[self.cleaned_data["workspace"]]
        if self.cleaned_data.get("new_project_name"):
            project = self.client.create_project(
                account_id=account.id, workspace_id=workspace.id, name=self.cleaned_data["new_project_name"]
            )
        else:
            project = self.projects[self.cleaned_data["project"]]
        base = Target(
            account_id=account.id,
            account_name=account.display_name or "",
            workspace_id=workspace.id,
            workspace_name=workspace.name or "",
        )
        return target_with_project(base, project)
