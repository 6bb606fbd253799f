"""What a delivery will copy, and whether it still may: reads only, no writes, nothing copied.

The render must still be the one approved: its ledger row's checksum is the one recorded at approval (a
render re-verified with other content since is refused), and each of its files (a movie, or every frame of
a sequence) is there with its size. The bytes themselves are hashed while they are copied (delivery.copying).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import xxhash
from django.conf import settings

from delivery import naming
from delivery.models import Delivery
from ingest.models import Render, RenderFrame
from ingest.sequences import key_parts


class PlanError(Exception):
    """The delivery cannot go ahead; the message names the file (or frame) and why."""


@dataclass(frozen=True)
class PlannedFile:
    source: Path
    source_relative: str  # under the render's watch root, as the ledger has it
    name: str  # in the delivered folder
    frame: int | None
    size: int
    checksum: str  # the approved xxh3-128


@dataclass(frozen=True)
class Plan:
    folder: str  # relative to the delivery root
    files: list[PlannedFile]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def plan(delivery: Delivery) -> Plan:
    """The files of the approved render and where they go; PlanError if the render changed since approval."""
    render = delivery.render
    _check_still_approved(delivery, render)
    try:
        target = naming.render(settings.POSTFLOW_DELIVERY_TEMPLATE, _values(delivery, render))
    except naming.NamingError as exc:
        raise PlanError(f"{delivery.shot}: no delivery path: {exc}") from None
    files = _sequence_files(delivery, render, target) if render.is_sequence else [_movie_file(render, target)]
    for planned in files:
        _check_present(planned)
    return Plan(folder=target.folder, files=files)


def _check_still_approved(delivery: Delivery, render: Render) -> None:
    if render.checksum != delivery.approved_checksum:
        raise PlanError(
            f"{render.display_name}: the render changed since approval "
            f"(xxh128 now {render.checksum or 'none'}, approved {delivery.approved_checksum})"
        )
    if render.state not in Render.VERSION_STATES:
        why = f": {render.reason}" if render.reason else ""
        raise PlanError(f"{render.display_name}: the render is {render.state} since approval{why}")


def _values(delivery: Delivery, render: Render) -> dict[str, str]:
    shot = delivery.shot
    return naming.values_for(
        project=shot.project.code,
        scene=shot.scene.number,
        scene_name=shot.scene.name,
        nomenclature=shot.nomenclature,
        shot=shot.shot_number,
        version=delivery.version,
        ext=render.path.rpartition(".")[2],
    )


def _movie_file(render: Render, target: naming.Target) -> PlannedFile:
    return PlannedFile(
        source=Path(render.root) / render.path,
        source_relative=render.path,
        name=target.name,
        frame=None,
        size=render.size,
        checksum=render.checksum,
    )


def _sequence_files(delivery: Delivery, render: Render, target: naming.Target) -> list[PlannedFile]:
    """Every frame verified (RenderFrame), in order. Their combined digest must be the approved one: the
    rows are replaced when the render is verified again."""
    directory, base, padding, ext = key_parts(render.path)
    rows = list(RenderFrame.objects.filter(render=render).order_by("frame").values_list("frame", "size", "checksum"))
    combined = xxhash.xxh3_128("".join(f"{frame} {digest}\n" for frame, _, digest in rows).encode()).hexdigest()
    if not rows or combined != delivery.approved_checksum:
        raise PlanError(f"{render.display_name}: its frames are not the ones approved (verified again since?)")
    files = []
    for frame, size, digest in rows:
        relative = f"{directory}/{base}{frame:0{padding}d}.{ext}" if directory else f"{base}{frame:0{padding}d}.{ext}"
        files.append(
            PlannedFile(
                source=Path(render.root) / relative,
                source_relative=relative,
                name=target.frame_name(frame, padding),
                frame=frame,
                size=size,
                checksum=digest,
            )
        )
    return files


def _check_present(planned: PlannedFile) -> None:
    what = (
        f"frame {planned.frame} ({planned.source_relative})" if planned.frame is not None else planned.source_relative
    )
    try:
        size = planned.source.stat(follow_symlinks=False).st_size
    except FileNotFoundError:
        raise PlanError(f"{what}: missing since approval") from None
    except OSError as exc:
        raise PlanError(f"{what}: cannot be read ({exc.strerror or exc})") from None
    if size != planned.size:
        raise PlanError(f"{what}: {size} bytes, approved at {planned.size}: the render changed since approval")
