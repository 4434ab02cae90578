"""``tiktok-dm annotate push|pull|status``: the Label Studio round trip from the command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from annotation.client import AnnotationError

EXIT_ERROR = 2
DOCUMENT_ROOT_ENV = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"

_server_options = [
    click.option("--url", required=True, metavar="URL", help="Label Studio server, e.g. http://127.0.0.1:8080."),
    click.option("--project", "project_title", required=True, metavar="NAME", help="Project title."),
]


def server_options(function):
    for option in reversed(_server_options):
        function = option(function)
    return function


@click.group()
def annotate() -> None:
    """Label Studio round trip: proposals in as pre-annotations, corrections back into the manifest.

    \b
    The API key is read from LABEL_STUDIO_API_KEY (personal access token or legacy token); it is
    never printed or written. Media are served by Label Studio's local-files storage: the build
    folder must sit under the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT.
    \b
      tiktok-dm annotate push   --url URL --project P --manifest m.csv --build build/
      tiktok-dm annotate status --url URL --project P
      tiktok-dm annotate pull   --url URL --project P --manifest m.csv    # keeps m.v1.csv
    """


@annotate.command()
@server_options
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--build", "build_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Build directory of `tiktok-dm build` (downloaded videos, cut clips, stage results).")
@click.option("--kind", type=click.Choice(["compilation", "clip"]), default="compilation", show_default=True,
              help="'compilation': whole videos with clip ranges to confirm or fix; 'clip': one task per cut clip.")
@click.option("--document-root", type=click.Path(file_okay=False, path_type=Path),
              help=f"The server's local-files document root (default: ${DOCUMENT_ROOT_ENV}).")
def push(url: str, project_title: str, manifest: Path, build_dir: Path, kind: str, document_root: Path | None) -> None:
    """Create the project if needed and import tasks with pre-annotations (no duplicates on re-push)."""
    from annotation.client import api_key_from_env, connect, label_studio_errors
    from annotation.projects import ProjectKind, ensure_project
    from annotation.push import build_tasks, media_folder, push_tasks
    from tiktok_dm.model.build_dir import BuildDir
    from tiktok_dm.model.manifest import Manifest

    with _errors_to_exit():
        root = _document_root(document_root)
        project_kind = ProjectKind(kind)
        build = BuildDir(build_dir)
        tasks = build_tasks(project_kind, Manifest.from_csv(manifest, allow_file_urls=True), build, root)
        client = connect(url, api_key_from_env())
        with label_studio_errors(url):
            project = ensure_project(client, project_title, project_kind)
            report = push_tasks(client, project, tasks, media_folder(project_kind, build), root)
        click.echo(f"project {project_title!r} (id {project.id}): {report.created} task(s) created, "
                   f"{report.already_there} already there, {report.predictions} with pre-annotations")


@annotate.command()
@server_options
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the merged manifest here (default: replace --manifest, keeping it as NAME.vN.csv).")
def pull(url: str, project_title: str, manifest: Path, out_path: Path | None) -> None:
    """Export the annotations and merge them into the manifest; list every change and conflict."""
    from annotation.client import api_key_from_env, connect, label_studio_errors
    from annotation.projects import project_kind, require_project
    from annotation.pull import pull as run_pull

    with _errors_to_exit():
        client = connect(url, api_key_from_env())
        with label_studio_errors(url):
            project = require_project(client, project_title, url)
            report = run_pull(client, project, project_kind(project), manifest, out_path)
        click.echo(report.summary())


@annotate.command()
@server_options
def status(url: str, project_title: str) -> None:
    """How many tasks the project has, how many are annotated, how many carry pre-annotations."""
    from annotation.client import api_key_from_env, connect, label_studio_errors
    from annotation.projects import require_project

    with _errors_to_exit():
        client = connect(url, api_key_from_env())
        with label_studio_errors(url):
            project = require_project(client, project_title, url)
            tasks = list(client.tasks.list(project=project.id, fields="all"))
        annotated = sum(1 for t in tasks if (t.total_annotations or 0) > 0)
        predicted = sum(1 for t in tasks if (t.total_predictions or 0) > 0)
        click.echo(f"project {project_title!r} (id {project.id}): {len(tasks)} task(s), {annotated} annotated, "
                   f"{predicted} with pre-annotations, {len(tasks) - annotated} to do")


def _document_root(document_root: Path | None) -> Path:
    root = document_root or (Path(os.environ[DOCUMENT_ROOT_ENV]) if os.environ.get(DOCUMENT_ROOT_ENV) else None)
    if root is None:
        raise AnnotationError(f"give --document-root or set {DOCUMENT_ROOT_ENV} (the server's local-files root)")
    return root


class _errors_to_exit:
    """AnnotationError and bad input -> one clear line on stderr and exit code 2."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        from tiktok_dm.model.manifest import ManifestError

        if isinstance(error, (AnnotationError, ManifestError, ValueError)):
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_ERROR)
        return False
