"""Label Studio projects of tiktok-dm, set up from the label configs in ``annotation/label_configs``.

Label Studio accepts some broken configs silently (an unknown tag, a missing control), so after
creating a project we read back the config the server parsed and check every control we rely on.
"""

from __future__ import annotations

import enum
from pathlib import Path

from annotation.client import AnnotationError

LABEL_CONFIG_DIR = Path(__file__).parent / "label_configs"


class ProjectKind(str, enum.Enum):
    COMPILATION = "compilation"  # whole compilation video: clip ranges + per-clip song, dancers, usability
    CLIP = "clip"  # one cut clip: confirm the song among candidates, dancers, quality


# control name -> tag type the server must report for it.
EXPECTED_CONTROLS = {
    ProjectKind.COMPILATION: {"clips": "TimelineLabels", "song_id": "TextArea", "num_dancers": "Number",
                              "usable": "Choices", "notes": "TextArea"},
    ProjectKind.CLIP: {"song_id": "Choices", "other_song": "TextArea", "num_dancers": "Number", "quality": "Choices"},
}
KIND_MARKER = "tiktok-dm project kind: "


def label_config(kind: ProjectKind) -> str:
    return (LABEL_CONFIG_DIR / f"{kind.value}.xml").read_text()


def find_project(client, title: str):
    matches = [p for p in client.projects.list(title=title) if p.title == title]
    return matches[0] if matches else None


def require_project(client, title: str, url: str):
    project = find_project(client, title)
    if project is None:
        raise AnnotationError(f"no project titled {title!r} on {url}; create it with `tiktok-dm annotate push`")
    return client.projects.get(id=project.id)


def ensure_project(client, title: str, kind: ProjectKind):
    """The project titled ``title``, created from the label config of ``kind`` when missing, checked either way."""
    project = find_project(client, title)
    if project is None:
        project = client.projects.create(title=title, label_config=label_config(kind),
                                         description=f"{KIND_MARKER}{kind.value}")
    project = client.projects.get(id=project.id)
    check_parsed_config(project, kind)
    return project


def project_kind(project) -> ProjectKind:
    description = project.description or ""
    if KIND_MARKER not in description:
        raise AnnotationError(f"project {project.title!r} was not made by tiktok-dm (no '{KIND_MARKER}' in its "
                              "description)")
    return ProjectKind(description.split(KIND_MARKER, 1)[1].split()[0])


def check_parsed_config(project, kind: ProjectKind) -> None:
    parsed = project.parsed_label_config or {}
    problems = []
    for name, tag in EXPECTED_CONTROLS[kind].items():
        found = parsed.get(name, {}).get("type")
        if found != tag:
            problems.append(f"control {name!r}: expected <{tag}>, server parsed {found or 'nothing'}")
    if problems:
        raise AnnotationError(f"project {project.title!r} has a label config the pipeline cannot use: "
                              + "; ".join(problems))


def known_labels(project) -> dict[str, set[str]]:
    """Control name -> label / choice values the project's config declares (empty for free-form controls)."""
    return {name: set(control.get("labels") or []) for name, control in (project.parsed_label_config or {}).items()}
