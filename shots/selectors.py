"""Reads on shots that more than one part needs, so each rule lives in one place."""

from django.db.models import Exists, F, OuterRef, QuerySet

from shots.models import Shot

# The order of the cut: by record in; shots not yet placed in the cut go last.
CUT_ORDER = (F("timeline_in").asc(nulls_last=True), "shot_number")


def with_shares_source(shots: QuerySet[Shot]) -> QuerySet[Shot]:
    """Annotate `shares_source`: another non-omitted shot uses the same source file (one subquery).

    The importer's "shots sharing a source" count applies the same rule to the sheet's rows.
    """
    others = Shot.objects.filter(source_file=OuterRef("source_file"), omitted=False).exclude(pk=OuterRef("pk"))
    return shots.annotate(shares_source=Exists(others))
