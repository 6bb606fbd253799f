"""Google Sheets two-way sync of the shot list (docs/sheets.md).

`client`: the Sheets API v4 through gspread and a service account, with backoff; no models.
`sync`: the rule of which side wins per column, the pull (through `shots.importer`) and the push.
`tasks`: the django-q2 entry point of the schedule.
"""
