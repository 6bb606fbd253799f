from django import forms

from shots.workflow import Status


class ForceStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    reason = forms.CharField(
        max_length=2000, strip=True, widget=forms.TextInput(attrs={"placeholder": "why (required)"})
    )
