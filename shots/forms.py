"""Admin forms: the shot change form (timecodes as HH:MM:SS:FF) and the status-action confirmations."""

import re

from django import forms
from django.conf import settings

from postflow.lib.timecode import fps_label, timecode_to_frames
from shots.models import Shot
from shots.workflow import Status

TIMECODE_FIELDS: tuple[str, ...] = ("source_in", "source_out", "timeline_in", "timeline_out", "duration")


class ShotAdminForm(forms.ModelForm):
    """Edits a shot's data; timecodes are typed as HH:MM:SS:FF at the project rate, stored as frames.

    `status` is not a field here: status changes go through the admin actions and the services.
    """

    class Meta:
        model = Shot
        fields = [
            "shot_number",
            "nomenclature",
            "scene",
            "source_file",
            *TIMECODE_FIELDS,
            "notes",
            "omitted",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Shots are created by the import only (the admin offers no "add"), so there is a project.
        fps = self.instance.project.fps
        for name in TIMECODE_FIELDS:
            self.fields[name] = forms.CharField(
                required=False,
                label=self.fields[name].label,
                help_text=f"HH:MM:SS:FF at {fps_label(fps)} fps",
                initial=self.instance.timecode(name),
            )
            self.initial[name] = self.instance.timecode(name)

    def _clean_timecode(self, name: str) -> int | None:
        text = self.cleaned_data.get(name, "").strip()
        if not text:
            return None
        try:
            return timecode_to_frames(text, self.instance.project.fps)
        except ValueError as exc:
            raise forms.ValidationError(f"{text!r}: {exc}") from None

    def clean_source_in(self) -> int | None:
        return self._clean_timecode("source_in")

    def clean_source_out(self) -> int | None:
        return self._clean_timecode("source_out")

    def clean_timeline_in(self) -> int | None:
        return self._clean_timecode("timeline_in")

    def clean_timeline_out(self) -> int | None:
        return self._clean_timecode("timeline_out")

    def clean_duration(self) -> int | None:
        return self._clean_timecode("duration")

    def clean_nomenclature(self) -> str:
        value = self.cleaned_data["nomenclature"].strip()
        if value and not re.match(settings.POSTFLOW_NOMENCLATURE_REGEX, value):
            raise forms.ValidationError(
                f"{value!r} does not match the nomenclature rule {settings.POSTFLOW_NOMENCLATURE_REGEX}"
            )
        if value:
            self._check_unique(nomenclature=value)
        return value

    def clean_shot_number(self) -> str:
        value = self.cleaned_data["shot_number"].strip()
        self._check_unique(shot_number=value)
        return value

    def _check_unique(self, **lookup: str) -> None:
        # The model's unique constraints include `project`, which is not a form field, so
        # ModelForm skips them; without this check a clash would be an IntegrityError (a 500).
        clash = Shot.objects.filter(project=self.instance.project, **lookup).exclude(pk=self.instance.pk).first()
        if clash is not None:
            field, value = next(iter(lookup.items()))
            raise forms.ValidationError(f"{value!r} is already the {field.replace('_', ' ')} of {clash}")

    def clean(self) -> dict:
        data = super().clean()
        project = self.instance.project
        for name in ("scene", "source_file"):
            related = data.get(name)
            if related is not None and related.project_id != project.pk:
                self.add_error(name, f"belongs to another project than {project.code}")
        for start, end in (("source_in", "source_out"), ("timeline_in", "timeline_out")):
            if data.get(start) is not None and data.get(end) is not None and data[end] <= data[start]:
                self.add_error(end, "must come after the in point (out points are exclusive)")
        start, end, duration = data.get("timeline_in"), data.get("timeline_out"), data.get("duration")
        if None not in (start, end, duration) and end - start != duration:
            self.add_error("duration", "does not match timeline out minus timeline in")
        return data


def _status_label(status: str) -> str:
    return Status(status).label


class MoveToForm(forms.Form):
    """Pick one legal target; `targets` maps each offered status to how many selected shots may take it."""

    to_status = forms.ChoiceField(label="Move to", widget=forms.RadioSelect)

    def __init__(self, *args, targets: dict[str, int], selected: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [
            (status, f"{_status_label(status)} ({count} of {selected} shot{'s' if selected != 1 else ''})")
            for status, count in targets.items()
        ]


class ForceStatusForm(forms.Form):
    to_status = forms.ChoiceField(label="Force to", choices=Status.choices)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required: why the status machine is overridden. Kept in every shot's history.",
    )
