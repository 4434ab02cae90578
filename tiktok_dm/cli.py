"""The ``tiktok-dm`` command line: thin wrappers over the library functions of the same names."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

import click
from tqdm.contrib.logging import logging_redirect_tqdm

from tiktok_dm.config import POSE_BACKENDS, BuildConfig

EXIT_FAILURES = 1
EXIT_INVALID_INPUT = 2
EXIT_CLUSTER = 3  # the Ray cluster did not answer, or was lost mid-build


def _setup_logging(verbose: int) -> None:
    """Our own messages (what was skipped and why) at INFO; other libraries' at WARNING unless -vv."""
    logging.basicConfig(level=logging.DEBUG if verbose >= 2 else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tiktok_dm").setLevel(logging.DEBUG if verbose else logging.INFO)


def _load_config(config: str | None, executor: str | None, ray_address: str | None, num_cpus: int | None,
                 allow_file_urls: bool, overrides: tuple[str, ...] = ()) -> BuildConfig:
    try:
        cfg = BuildConfig.from_yaml(config, overrides)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--config/--set") from error
    if executor:
        cfg.executor.kind = executor
    if ray_address:
        cfg.executor.kind = "ray"
        cfg.executor.ray_address = ray_address
    if num_cpus:
        cfg.executor.num_cpus = num_cpus
    if allow_file_urls:
        cfg.download.allow_file_urls = True
    return cfg


@contextlib.contextmanager
def _cluster_errors(out_dir: Path):
    """A Ray cluster that never answered, or was lost mid-build: what finished, how to resume, exit 3."""
    from tiktok_dm.pipeline.distribute import ClusterLost, ClusterUnavailable

    try:
        yield
    except ClusterUnavailable as error:
        click.echo(f"Ray cluster unavailable: {error}", err=True)
        sys.exit(EXIT_CLUSTER)
    except ClusterLost as error:
        from tiktok_dm.pipeline.status import format_status

        done = format_status(out_dir) if (out_dir / "results").is_dir() else "nothing had finished"
        click.echo(f"build stopped: {error}\nwhat finished is kept in {out_dir}:\n{done}\nrun the same command again "
                   "(with a live cluster, or without --ray-address) to resume: finished items are not redone",
                   err=True)
        sys.exit(EXIT_CLUSTER)


_executor_options = [
    click.option("--config", "config", metavar="NAME|PATH",
                 help="YAML config overriding the defaults: a file, or a built-in name ('default', 'debug')."),
    click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
                 help="Override one setting after --config, e.g. --set download.max_per_host=1 --set "
                      "pose.max_fps=15 (repeatable; the value is read as YAML; every section and key is in "
                      "tiktok_dm/config.py)."),
    click.option("--executor", type=click.Choice(["ray", "local"]),
                 help="'ray' (default) fans stages out as Ray tasks; 'local' runs them one by one in this process."),
    click.option("--ray-address", metavar="ADDR",
                 help="Join an existing Ray cluster ('head:6379', 'ray://head:10001' or 'auto') instead of starting "
                      "a private local Ray on 127.0.0.1. All nodes must see --out at the same path. A cluster that "
                      "does not answer within executor.connect_timeout_s (10 s), or whose head stops answering "
                      "for executor.lost_after_s (15 s) mid-build, ends the build with exit code 3."),
    click.option("--num-cpus", type=int, help="CPUs for the local Ray (default: all)."),
    click.option("-v", "--verbose", count=True, help="More log output (-v: our debug messages, -vv: everything)."),
]


def executor_options(function):
    for option in reversed(_executor_options):
        function = option(function)
    return function


_download_options = [
    click.option("--cookies", "cookies_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
                 help="Cookies of a browser signed in to the site, as a Netscape cookies.txt (YouTube's 'Sign in to "
                      "confirm you're not a bot', age gates). Read where it is: never copied into the build "
                      "folder or a log (yt-dlp writes refreshed cookies back into it)."),
    click.option("--cookies-from-browser", metavar="BROWSER[+KEYRING][:PROFILE][::CONTAINER]",
                 help="Read the cookies from a browser on this machine, as yt-dlp's option of that name "
                      "(e.g. firefox, 'chrome:Profile 1')."),
]


def download_options(function):
    for option in reversed(_download_options):
        function = option(function)
    return function


def _apply_download_options(cfg: BuildConfig, cookies_file: Path | None, cookies_from_browser: str | None) -> None:
    if cookies_file:
        cfg.download.cookies_file = str(cookies_file)
    if cookies_from_browser:
        cfg.download.cookies_from_browser = cookies_from_browser


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tiktok-dm", prog_name="tiktok-dm")
def cli() -> None:
    """Rebuild the TikTok dance-music dataset of D2M-GAN (ECCV 2022) from compilation videos.

    \b
    A manifest (CSV) lists one clip per row:
      compilation_id,url,clip_id,start_s,end_s,song_id,num_dancers
    `build` downloads each compilation once (yt-dlp), cuts the clips (ffmpeg, frame-accurate),
    finds 2D skeletons, cuts 2-second segments in the official D2M layout, makes a song-disjoint
    train/test split and exports a Hugging Face dataset. Every stage is resumable: run the same
    command again after a crash and only unfinished work is redone.

    \b
    Start here:
      tiktok-dm demo                          # everything, on a compilation the demo makes itself
      tiktok-dm validate manifest.csv         # check a manifest before any work
      tiktok-dm build manifest.csv --out build/
      tiktok-dm status build/                 # what is done / failed per stage
      tiktok-dm verify manifest.csv           # which source URLs still answer (link rot)
      tiktok-dm report build/                 # dataset QA: build/qa.csv + build/report/index.html
      tiktok-dm publish build/ --repo-id ORG/NAME --tag v1   # the dataset to the Hugging Face Hub
      tiktok-dm annotate push --url URL --project P --manifest manifest.csv --build build/
    """


@cli.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-file-urls", is_flag=True, help="Accept file:// URLs (refused by default: a manifest "
                                                       "must not be able to read arbitrary local files).")
@click.option("--config", "config", metavar="NAME|PATH",
              help="Also check the manifest against a build config (clips shorter than one segment, ...).")
@click.option("--song-assignment", metavar="DIR",
              help="Also check that every clip's song id is in this fixed song -> split assignment.")
def validate(manifest: Path, allow_file_urls: bool, config: str | None, song_assignment: str | None) -> None:
    """Check MANIFEST and list every bad row with its line number (exit code 2 if any).

    \b
    Checked: required columns; ids that name files (compilation_id, clip_id) safe on every file
    system (at most 100 bytes, no / \\ < > : " | ? *, no leading '.' or '-', no Windows device
    names); no id starting like a spreadsheet formula (= + - @); numbers, spans (no overlaps, end
    after start), URLs (http(s); file:// only with --allow-file-urls), num_dancers <= 100. With the
    build's settings (the defaults, --config, --song-assignment): every clip at least one segment
    long, every song id in the fixed assignment. `build` runs the same checks before any work.
    """
    from tiktok_dm.model.manifest import ManifestError
    from tiktok_dm.pipeline.checks import SongAssignmentUnreadable, read_manifest

    try:
        cfg = BuildConfig.from_yaml(config)
        cfg.download.allow_file_urls = allow_file_urls or cfg.download.allow_file_urls
        if song_assignment:
            cfg.split.song_assignment = song_assignment
        parsed = read_manifest(manifest, cfg)
    except (ManifestError, FileNotFoundError, SongAssignmentUnreadable) as error:
        click.echo(f"invalid manifest: {error}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    songs = {c.song_id for c in parsed.clips if c.song_id}
    click.echo(f"{manifest}: valid: {len(parsed.compilations)} compilation(s), {len(parsed.spanned_clips)} clip "
               f"span(s), {len(songs)} song id(s), {len(parsed.unsegmented_compilations)} compilation(s) "
               f"without spans")


@cli.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Build directory (created; reused on re-runs to skip finished work).")
@click.option("--allow-file-urls", is_flag=True, help="Accept file:// URLs in the manifest.")
@click.option("--song-assignment", metavar="DIR",
              help="Fix the song -> split assignment from a split folder (train.csv/test.csv with song_id), "
                   "e.g. splits/tiktok_official to reproduce the official 392/53 split.")
@click.option("--song-library", metavar="DIR", type=click.Path(exists=True, file_okay=False),
              help="Full reference tracks of the songs (audio files named after the song, or a 'tiktok-dm songs' "
                   "index folder). Clips without song_id get their id from their audio fingerprint; with a "
                   "library, clips of one song that share no audio still get one id (lib:<track>).")
@click.option("--test-fraction", type=float, help="Target share of clips in the test split (songs stay disjoint).")
@click.option("--seed", type=int, help="Seed of the song-disjoint split.")
@click.option("--pose-backend", type=click.Choice(POSE_BACKENDS),
              help="Skeleton detector of the pose stage (default: landmarker, every dancer, from the config; "
                   "see `tiktok-dm pose --help`).")
@click.option("--pose-checkpoint", metavar="PATH|NAME",
              help="The pose backend's weights: openpifpaf checkpoint file or name; landmarker .task bundle.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@download_options
@executor_options
def build(manifest: Path, out_dir: Path, allow_file_urls: bool, song_assignment: str | None, song_library: str | None,
          test_fraction: float | None, seed: int | None, pose_backend: str | None, pose_checkpoint: str | None,
          no_progress: bool, cookies_file: Path | None, cookies_from_browser: str | None, config: str | None,
          overrides: tuple[str, ...], executor: str | None, ray_address: str | None, num_cpus: int | None,
          verbose: int) -> None:
    """Build the dataset of MANIFEST into --out.

    Exit code 0 when every clip made it, 1 when some failed (listed at the end and in
    OUT/failures.csv), 2 when the manifest or the settings are invalid (checked before any work;
    nothing is written then), 3 when the Ray cluster did not answer or was lost mid-build (what
    finished is kept: run the same command again to resume).
    """
    from tiktok_dm.dataset.split import LeakingAssignment
    from tiktok_dm.download.ytdlp import DownloadSetupError
    from tiktok_dm.model.manifest import ManifestError
    from tiktok_dm.pipeline.build import build as run_build
    from tiktok_dm.pipeline.checks import (ExportCodecUnavailable, MediaToolsUnavailable, PoseBackendUnavailable,
                                           SongAssignmentUnreadable, SongLibraryUnavailable)

    _setup_logging(verbose)
    cfg = _load_config(config, executor, ray_address, num_cpus, allow_file_urls, overrides)
    _apply_download_options(cfg, cookies_file, cookies_from_browser)
    if song_assignment:
        cfg.split.song_assignment = song_assignment
    if song_library:
        cfg.songs.library = song_library
    if test_fraction is not None:
        cfg.split.test_fraction = test_fraction
    if seed is not None:
        cfg.split.seed = seed
    if pose_backend:
        cfg.pose.backend = pose_backend
    if pose_checkpoint:
        cfg.pose.checkpoint = pose_checkpoint
    if not manifest.is_file():
        click.echo(f"invalid input: manifest {manifest} does not exist", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    try:
        with logging_redirect_tqdm(), _cluster_errors(out_dir):
            report = run_build(manifest, out_dir, cfg, progress=not no_progress)
    except (ManifestError, PoseBackendUnavailable, SongLibraryUnavailable, SongAssignmentUnreadable,
            DownloadSetupError, MediaToolsUnavailable, ExportCodecUnavailable) as error:
        click.echo(f"invalid input: {error}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    except LeakingAssignment as error:
        click.echo(f"invalid input: {error}\nthe stages' work is kept: fix the song ids or the assignment and run the "
                   "same command again", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    click.echo(report.summary())
    sys.exit(0 if report.ok else EXIT_FAILURES)


@cli.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default="linkrot.csv",
              show_default=True, help="Link-rot table: compilation_id, url, status (ok/failed), error_kind, error, "
                                      "remedy, title, duration_s, extractor, checked_at.")
@click.option("--workers", type=int, default=4, show_default=True,
              help="URLs checked at the same time (at most download.max_per_host of one host).")
@click.option("--allow-file-urls", is_flag=True, help="Accept file:// URLs in the manifest.")
@click.option("--config", "config", metavar="NAME|PATH",
              help="Build config whose download settings to use (JS runtime, sleeps, max_per_host).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@download_options
def verify(manifest: Path, out_path: Path, workers: int, allow_file_urls: bool, config: str | None, no_progress: bool,
           cookies_file: Path | None, cookies_from_browser: str | None) -> None:
    """Check which source URLs of MANIFEST still answer (metadata only, nothing is downloaded).

    \b
    Each failed URL gets the same error kind a build would give it, with the remedy:
      unavailable     removed, private, or no video there (HTTP 404/410)
      bot_check       "Sign in to confirm you're not a bot": pass --cookies / --cookies-from-browser
      age_restricted  only for signed-in viewers of age: cookies of such an account
      geo_blocked     not shown in this machine's country
      rate_limited    too many requests (HTTP 429): wait, ask less often
      network         host unreachable, refused, timed out, HTTP 5xx
      extractor       yt-dlp could not read the page (JS challenge, site change): update yt-dlp
    Exit code 0 when every URL answers, 1 when some do not (listed), 2 for an invalid manifest or settings.
    """
    from tiktok_dm.download.ytdlp import DownloadSetupError
    from tiktok_dm.model.manifest import ManifestError
    from tiktok_dm.model.status import Status
    from tiktok_dm.pipeline.verify import verify_manifest, write_link_table

    try:
        cfg = _load_config(config, None, None, None, allow_file_urls)
        _apply_download_options(cfg, cookies_file, cookies_from_browser)
        table = verify_manifest(manifest, cfg.download, workers=workers, progress=not no_progress)
    except (ManifestError, FileNotFoundError, DownloadSetupError) as error:
        click.echo(f"invalid input: {error}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    write_link_table(table, out_path)
    failed = table[table["status"] == Status.FAILED.value]
    click.echo(f"{len(table) - len(failed)} of {len(table)} source URL(s) answer; table: {out_path}")
    for row in failed.itertuples():
        click.echo(f"  {row.error_kind}: {row.compilation_id} {row.url}: {row.error}\n    what to do: {row.remedy}")
    sys.exit(EXIT_FAILURES if len(failed) else 0)


@cli.command()
@click.argument("build_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--repo-id", required=True, metavar="ORG/NAME", help="The dataset repository on the Hub (created if "
                                                                     "missing).")
@click.option("--private/--public", default=True, show_default=True,
              help="Visibility of a repository this command creates (an existing one keeps its own).")
@click.option("--tag", metavar="TAG", help="Tag the published commit (e.g. v1.0): what `load_dataset(..., "
                                           "revision=TAG)` and `d2m-train --hf-dataset ORG/NAME@TAG` read.")
@click.option("--gated", type=click.Choice(["manual", "auto", "none"]), default="manual", show_default=True,
              help="Gated access (the dancers are identifiable people): requests reviewed by you (manual), granted "
                   "on agreeing to the card's prompt (auto), or none.")
@click.option("--dry-run", is_flag=True, help="Check the card and list the files with their sizes; upload nothing, "
                                              "need no token.")
@click.option("-v", "--verbose", count=True, help="More log output.")
def publish(build_dir: Path, repo_id: str, private: bool, tag: str | None, gated: str, dry_run: bool,
            verbose: int) -> None:
    """Publish BUILD_DIR's Hugging Face dataset (BUILD_DIR/dataset) to the Hub as ORG/NAME.

    \b
    Through huggingface_hub: the token is the one it finds (HF_TOKEN, or `hf auth login`), never
    printed; HF_ENDPOINT points at another Hub. The card is checked first (size category, licence and
    its link, gated-access prompt and fields, task categories, data files). Only files the Hub does
    not hold yet are sent, so an interrupted publish resumes when run again and an unchanged build
    makes no new commit; shards the build no longer has are deleted on the Hub in the same commit.
    Exit code 0 when published (or the dry run found nothing wrong), 2 when the build or the card
    cannot be published, 1 when the Hub refused.

    \b
      tiktok-dm publish build/ --repo-id me/tiktok-dance-music --dry-run
      tiktok-dm publish build/ --repo-id me/tiktok-dance-music --tag v1.0
      python -c "import datasets; print(datasets.load_dataset('me/tiktok-dance-music', 'segments'))"
    """
    from tiktok_dm.dataset.publish import HubRefused, PublishError, plan_publish
    from tiktok_dm.dataset.publish import publish as run_publish

    _setup_logging(verbose)
    if dry_run:
        try:
            plan = plan_publish(build_dir, repo_id)
        except PublishError as error:
            click.echo(f"cannot publish: {error}", err=True)
            sys.exit(EXIT_INVALID_INPUT)
        for file in plan.files:
            click.echo(f"  {file.bytes:>12,d}  {file.path}")
        click.echo(f"dry run: {len(plan.files)} file(s), {plan.total_bytes / 1e6:.1f} MB would go to {repo_id}; "
                   "the card passes the checks")
        return
    try:
        result = run_publish(build_dir, repo_id, private=private, tag=tag, gated=None if gated == "none" else gated)
    except PublishError as error:
        click.echo(f"cannot publish: {error}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    except HubRefused as error:
        click.echo(f"not published: {error}", err=True)
        sys.exit(EXIT_FAILURES)
    state = "published" if result.new_commit else "unchanged (the Hub already holds this dataset)"
    click.echo(f"{repo_id}: {state} at commit {result.commit}{f', tag {tag}' if tag else ''}: {result.url}")


@cli.command()
@click.argument("build_dir", type=click.Path(file_okay=False, path_type=Path))
def status(build_dir: Path) -> None:
    """Show what each stage of BUILD_DIR has done, failed or crashed on, with the error.

    \b
    Per stage: items done, failed (the data: a removed video, no audio, nobody in frame) and
    crashed (the code: an unexpected exception, a worker that died); then every item that is
    not done with its error kind and error. clips.csv says the same per clip.
    """
    from tiktok_dm.pipeline.status import format_status

    try:
        click.echo(format_status(build_dir))
    except FileNotFoundError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_INVALID_INPUT)


@cli.command()
@click.option("--out", "out_dir", default="demo_out", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the demo writes everything.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@executor_options
def demo(out_dir: Path, no_progress: bool, config: str | None, overrides: tuple[str, ...], executor: str | None,
         ray_address: str | None, num_cpus: int | None, verbose: int) -> None:
    """Run the whole pipeline on a small compilation the demo makes itself.

    It draws a dancing figure, synthesises three songs (one used by two clips), joins four clips
    into a compilation, serves it on a loopback HTTP server so the real yt-dlp download runs,
    builds the dataset, loads it back with datasets.load_dataset and prints a summary.
    """
    from tiktok_dm.pipeline.demo import run_demo

    _setup_logging(verbose)
    cfg = _load_config(config or "debug", executor or "ray", ray_address, num_cpus, False, overrides)
    with logging_redirect_tqdm(), _cluster_errors(out_dir / "build"):
        report, summary = run_demo(out_dir, cfg, progress=not no_progress)
    click.echo(summary)
    sys.exit(0 if report.ok else EXIT_FAILURES)


@cli.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--backend", type=click.Choice(POSE_BACKENDS), default="landmarker", show_default=True,
              help="mediapipe: BlazePose, one person, model inside mediapipe 0.10.14's wheel, offline. landmarker: "
                   "BlazePose through MediaPipe's Tasks API, every person up to --num-poses (its .task bundle: "
                   "--pose-checkpoint, else the cached copy, fetched when online or written by `tiktok-dm "
                   "pose-model --from-package`). movenet: MoveNet.MultiPose, bottom-up, up to 6 people, finds "
                   "dancers side by side (its .tflite: --pose-checkpoint, else the cached copy, fetched when online or "
                   "put there by `tiktok-dm pose-model --movenet`). openpifpaf: multi-person (install with `bash "
                   "scripts/install.sh --openpifpaf`).")
@click.option("--pose-checkpoint", "checkpoint", metavar="PATH|NAME",
              help="openpifpaf: checkpoint file, or an openpifpaf name (default shufflenetv2k16, downloaded and "
                   "cached when online). landmarker: a .task bundle file. movenet: a .tflite file.")
@click.option("--num-poses", type=click.IntRange(min=1), default=5, show_default=True,
              help="landmarker: the most people posed in a frame.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .npz: keypoints [frames, persons, 17, 3] (x, y in pixels, confidence; NaN-padded "
                   "persons), track_ids [frames, persons] (dancers tracked across frames), frame_times, fps, "
                   "width, height.")
@click.option("--max-fps", type=float, default=30.0, show_default=True,
              help="Process at most this many frames per second (0 = every frame).")
@click.option("--whole-frame", is_flag=True,
              help="Pose the whole frame. By default a compilation layout's picture is found first (black bars, a "
                   "blurred copy or side panels around it) and posed alone, so small dancers are found; keypoints "
                   "are in the frame's pixels either way.")
def pose(video: Path, backend: str, checkpoint: str | None, num_poses: int, out_path: Path, max_fps: float,
         whole_frame: bool) -> None:
    """Detect and track COCO-17 skeletons in VIDEO and save them as .npz."""
    from tiktok_dm.pose.config import ContentConfig
    from tiktok_dm.pose import estimate_video, get_backend
    from tiktok_dm.pose.landmarker_model import LandmarkerModelUnavailable
    from tiktok_dm.pose.movenet_backend import MoveNetModelUnavailable
    from tiktok_dm.pose.openpifpaf_backend import CheckpointUnavailableError

    if checkpoint and backend == "mediapipe":
        raise click.UsageError("--pose-checkpoint goes with --backend openpifpaf, landmarker or movenet")
    kwargs = {"checkpoint": checkpoint} if checkpoint else {}
    if backend == "landmarker":
        kwargs["num_poses"] = num_poses
    try:
        with get_backend(backend, **kwargs) as detector:
            sequence = estimate_video(video, detector, max_fps=max_fps,
                                      content=ContentConfig(enabled=not whole_frame))
    except (CheckpointUnavailableError, LandmarkerModelUnavailable, MoveNetModelUnavailable, ImportError) as error:
        raise click.ClickException(str(error)) from error
    sequence.save(out_path)
    click.echo(f"{out_path}: {sequence.keypoints.shape[0]} frames, person in "
               f"{100 * sequence.person_coverage(4, 0.3):.1f}% of them, "
               f"{len(set(sequence.track_ids[sequence.track_ids >= 0].tolist()))} track(s)")


@cli.command("pose-model")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the .task bundle (default: the cache the landmarker backend reads, "
                   "$TIKTOK_DM_CACHE or ~/.cache/tiktok-dm, pose/pose_landmarker_full.task).")
@click.option("--from-package", is_flag=True,
              help="Write it offline from the BlazePose models mediapipe 0.10.x ships (Python <= 3.12), adding "
                   "the input metadata the Tasks API needs with mediapipe's metadata writers. Without it the "
                   "bundle is downloaded from Google's release.")
@click.option("--url", help="Download from here instead of Google's release.")
@click.option("--movenet", is_flag=True,
              help="The movenet backend's model instead: MoveNet.MultiPose Lightning's .tflite (float16, ~9.5 MB; "
                   "default place: the cache's pose/movenet_multipose_lightning_float16.tflite), which poses the "
                   "clips the manifest gives more than one dancer (pose.multi_backend). Downloaded only.")
def pose_model(out_path: Path | None, from_package: bool, url: str | None, movenet: bool) -> None:
    """Put a pose backend's model in place (once per machine), so builds run offline: the landmarker's bundle (clips
    of one dancer, and clips without a count), or with --movenet MoveNet's .tflite (clips of several dancers).

    \b
    tiktok-dm pose-model                    # fetch Google's pose_landmarker_full.task into the cache
    tiktok-dm pose-model --from-package     # offline: build it from mediapipe 0.10.14's own models
    tiktok-dm pose-model --movenet          # fetch Google's MoveNet.MultiPose .tflite into the cache
    tiktok-dm pose-model --out m.task --from-package && tiktok-dm build ... --pose-backend landmarker \\
        --pose-checkpoint m.task
    """
    from tiktok_dm.pose.landmarker_model import (DEFAULT_LANDMARKER_URL, LandmarkerModelUnavailable,
                                                 default_landmarker_path, write_bundle_from_package)
    from tiktok_dm.pose.movenet_backend import DEFAULT_MOVENET_URL, default_movenet_path
    from tiktok_dm.pose.weights import download

    if movenet and from_package:
        raise click.UsageError("--from-package writes the landmarker's bundle; MoveNet's model is downloaded only")
    target = out_path or (default_movenet_path() if movenet else default_landmarker_path())
    url = url or (DEFAULT_MOVENET_URL if movenet else DEFAULT_LANDMARKER_URL)
    what = "MoveNet.MultiPose model" if movenet else "pose landmarker bundle"
    try:
        if from_package:
            write_bundle_from_package(target)
        else:
            download(url, target, what=what)
    except LandmarkerModelUnavailable as error:
        raise click.ClickException(str(error)) from error
    except (OSError, ValueError) as error:
        offline = ("copy the file there from a machine with internet access" if movenet else "use --from-package")
        raise click.ClickException(f"downloading {url} to {target} failed ({type(error).__name__}: {error}); "
                                   f"offline, {offline}") from error
    click.echo(f"{target}: {target.stat().st_size} bytes")


def _register_optional_commands() -> None:
    """Command groups that live in their own packages, registered here, explicitly, in one place."""
    from annotation.cli import annotate
    from tiktok_dm.boundaries.cli import segment_command
    from tiktok_dm.quality.cli import qa_command, report_command
    from tiktok_dm.songs.cli import songs_group

    cli.add_command(annotate)
    cli.add_command(qa_command, name="qa")
    cli.add_command(report_command, name="report")
    cli.add_command(segment_command, name="segment")
    cli.add_command(songs_group, name="songs")


_register_optional_commands()


def main() -> None:
    cli(prog_name="tiktok-dm")


if __name__ == "__main__":
    main()
