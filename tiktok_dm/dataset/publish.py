"""``tiktok-dm publish``: a build's dataset folder to a dataset repository on the Hugging Face Hub.

Through ``huggingface_hub`` only: ``create_repo`` (dataset, private or not, ``exist_ok``), the gated-access
setting (the dancers are identifiable people), ``upload_folder`` of BUILD/dataset as one commit, and a tag.
The token is the one ``huggingface_hub`` finds itself (``HF_TOKEN``, or ``hf auth login``); it is never
printed or written. ``HF_ENDPOINT`` points the client at another Hub.

Nothing is uploaded twice: the client asks the Hub which files it already holds (``preupload``; large files
by their sha256 through the LFS batch API) and sends only the rest, so a publish that was interrupted resumes
where it stopped when run again, and publishing an unchanged build makes no new commit. Shards that a later
build no longer has are deleted in the same commit (``delete_patterns``), so a takedown reaches the Hub.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

from tiktok_dm.dataset.card import card_problems

log = logging.getLogger(__name__)

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
GATED = ("manual", "auto")
# Files of the dataset folder that go to the Hub; anything else there (a stray cache, an editor's backup) stays.
PUBLISHED = ("README.md", "LICENSE.md", "data/**/*.parquet")


class PublishError(ValueError):
    """The build cannot be published as asked (no dataset folder, a card with problems, a bad repo id)."""


class HubRefused(RuntimeError):
    """The Hub did not accept the token or the upload (nothing of this publish is on the Hub unless it said so)."""


@dataclasses.dataclass(frozen=True)
class PublishedFile:
    path: str  # in the repository
    bytes: int


@dataclasses.dataclass(frozen=True)
class PublishPlan:
    repo_id: str
    folder: Path
    files: tuple[PublishedFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(file.bytes for file in self.files)


@dataclasses.dataclass(frozen=True)
class PublishResult:
    plan: PublishPlan
    commit: str | None  # the commit the repository's main branch is at after the publish
    url: str
    new_commit: bool  # False when the Hub already held exactly this dataset
    tag: str | None


def plan_publish(build_dir: Path, repo_id: str) -> PublishPlan:
    """What would be published, after every check that needs no network (raises PublishError)."""
    if not REPO_ID.match(repo_id):
        raise PublishError(f"--repo-id {repo_id!r} is not ORG/NAME (letters, digits, '-', '_', '.')")
    folder = Path(build_dir) / "dataset"
    if not folder.is_dir():
        raise PublishError(f"{build_dir} has no dataset folder ({folder}): run `tiktok-dm build` first")
    problems = card_problems(folder)
    if problems:
        raise PublishError(f"the dataset card {folder / 'README.md'} has problems:\n  " + "\n  ".join(problems))
    files = sorted({path for pattern in PUBLISHED for path in folder.glob(pattern) if path.is_file()})
    return PublishPlan(repo_id, folder, tuple(PublishedFile(path.relative_to(folder).as_posix(), path.stat().st_size)
                                              for path in files))


def publish(build_dir: Path, repo_id: str, private: bool = True, tag: str | None = None,
            gated: str | None = "manual") -> PublishResult:
    """Create (or reuse) the dataset repository and upload the build's dataset folder as one commit (raises
    PublishError before any request, HubRefused when the Hub says no)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    plan = plan_publish(build_dir, repo_id)
    if gated is not None and gated not in GATED:
        raise PublishError(f"gated must be one of {GATED} or None, not {gated!r}")
    api = HfApi()
    try:
        user = api.whoami()
    except (HfHubHTTPError, OSError) as error:
        raise HubRefused(f"the Hub at {api.endpoint} does not accept the token ({_reason(error)}): set HF_TOKEN or "
                           "run `hf auth login` with a token that may write to " + repo_id) from error
    log.info("publishing %d file(s), %.1f MB, to %s as %s", len(plan.files), plan.total_bytes / 1e6, repo_id,
             user.get("name", "?"))
    try:
        repo = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if gated:
            api.update_repo_settings(repo_id, repo_type="dataset", gated=gated)
        before = _head(api, repo_id)
        commit = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(plan.folder),
                                   allow_patterns=list(PUBLISHED), delete_patterns=["data/**/*.parquet"],
                                   commit_message=f"tiktok-dm publish: {len(plan.files)} file(s)")
        after = _head(api, repo_id)
        if tag:
            api.create_tag(repo_id, repo_type="dataset", tag=tag, revision=after, exist_ok=True)
    except HfHubHTTPError as error:
        raise HubRefused(f"the Hub refused the publish to {repo_id}: {_reason(error)}") from error
    log.info("published %s at commit %s%s", repo_id, after, f" (tag {tag})" if tag else "")
    return PublishResult(plan, after, getattr(commit, "commit_url", None) or str(repo), after != before, tag)


def _head(api, repo_id: str) -> str | None:
    """The commit the main branch is at (None for a repository without commits)."""
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        return api.dataset_info(repo_id, revision="main").sha
    except RevisionNotFoundError:
        return None


def _reason(error: Exception) -> str:
    """The error's first line, without anything that looks like a token."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"hf_[A-Za-z0-9]{6,}", "hf_***", text)
