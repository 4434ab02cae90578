"""The same recording in two clips, by the dancer's motion: a copy re-laid-out, trimmed or mirrored matches; other
dancers, even in the same studio, and people standing still do not."""

from __future__ import annotations

import dataclasses
import subprocess

import numpy as np
import pytest

from tiktok_dm.pose.sequence import PoseSequence
from tiktok_dm.quality.config import RecordingConfig
from tiktok_dm.quality.recordings import find_same_recordings, motion_signature, motion_signatures, same_recording

CONFIG = RecordingConfig()


def _dance(seconds: float, seed: int, fps: float = 30.0, still: bool = False) -> PoseSequence:
    """A drawn-free dancer: COCO-17 joints swinging on smooth random paths around a standing body."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * fps)
    times = np.arange(frames) / fps
    body = np.array([[320, 100], [325, 95], [315, 95], [330, 100], [310, 100], [350, 150], [290, 150], [370, 210],
                     [270, 210], [380, 260], [260, 260], [340, 270], [300, 270], [345, 350], [295, 350], [348, 430],
                     [292, 430]], np.float32)
    phases, speeds = rng.uniform(0, 2 * np.pi, (17, 2)), rng.uniform(0.5, 2.5, (17, 2))
    amplitude = 0.0 if still else 40.0
    swing = amplitude * np.sin(2 * np.pi * speeds[None] * times[:, None, None] + phases[None])
    swing[:, 5:7] *= 0.2  # shoulders move less
    keypoints = np.concatenate([body[None] + swing, np.full((frames, 17, 1), 0.9, np.float32)], axis=-1)
    return PoseSequence(keypoints[:, None], np.zeros((frames, 1), np.int32), times, fps, 640, 480)


def _transformed(sequence: PoseSequence, scale: float = 1.0, shift: tuple[float, float] = (0, 0),
                 mirror: bool = False, trim_s: float = 0.0) -> PoseSequence:
    keypoints = sequence.keypoints.copy()
    keypoints[..., :2] = keypoints[..., :2] * scale + np.array(shift, np.float32)
    if mirror:
        keypoints[..., 0] = sequence.width * scale - keypoints[..., 0]
        swap = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
        keypoints = keypoints[:, :, swap]
    keep = sequence.frame_times >= trim_s
    return PoseSequence(keypoints[keep], sequence.track_ids[keep], sequence.frame_times[keep] - trim_s, sequence.fps,
                        sequence.width, sequence.height)


def test_a_copy_rescaled_shifted_trimmed_or_mirrored_is_the_same_recording():
    original = _dance(6.0, seed=1)
    signature = motion_signature(original, CONFIG)
    for copy in (_transformed(original, scale=0.4, shift=(200, 30)), _transformed(original, trim_s=1.3),
                 _transformed(original, mirror=True), _transformed(original, scale=2.0, mirror=True, trim_s=0.7)):
        share, frames, offset_s, _ = same_recording(signature, motion_signature(copy, CONFIG), CONFIG)
        assert share >= CONFIG.min_matching_share and frames >= CONFIG.min_overlap_s * CONFIG.rate_hz
    trimmed = motion_signature(_transformed(original, trim_s=1.3), CONFIG)
    assert same_recording(signature, trimmed, CONFIG)[2] == pytest.approx(1.3, abs=1 / CONFIG.rate_hz)


@pytest.mark.parametrize("seed", [2, 3])
def test_a_copy_trimmed_between_coarse_steps_is_found(seed):
    """The coarse look before the full comparison sees every offset: a fast dance trimmed by 0.8 s (12 frames at
    15 Hz, not a multiple of the coarse step) was compared two frames apart there and never reached the full
    comparison."""
    original = motion_signature(_dance(6.0, seed=seed), CONFIG)
    copy = motion_signature(_transformed(_dance(6.0, seed=seed), scale=1.5, trim_s=0.8), CONFIG)
    share, _, offset_s, _ = same_recording(original, copy, CONFIG)
    assert share >= CONFIG.min_matching_share and offset_s == pytest.approx(0.8, abs=1 / CONFIG.rate_hz)


def test_other_dancers_and_people_standing_still_are_not():
    signatures = {"a": motion_signatures(_dance(6.0, seed=1), CONFIG), "b": motion_signatures(_dance(6.0, seed=2), CONFIG),
                  "still_1": motion_signatures(_dance(6.0, seed=3, still=True), CONFIG),
                  "still_2": motion_signatures(_dance(6.0, seed=4, still=True), CONFIG)}
    assert find_same_recordings(signatures, {}, CONFIG) == []
    signatures["a_again"] = motion_signatures(_transformed(_dance(6.0, seed=1), scale=0.5, mirror=True), CONFIG)
    (match,) = find_same_recordings(signatures, {"a": "c1", "a_again": "c2"}, CONFIG)
    assert (match.clip_a, match.clip_b, match.mirrored, match.same_compilation) == ("a", "a_again", True, False)


def test_pairs_compared_in_forked_workers_give_the_matches_of_one_process():
    """12 dancers, each with a mirrored, rescaled and trimmed copy: 276 pairs over 24 rows, in 2 processes or 1."""
    signatures = {}
    for seed in range(12):
        signatures[f"d{seed:02d}"] = motion_signatures(_dance(6.0, seed=seed), CONFIG)
        signatures[f"d{seed:02d}_copy"] = motion_signatures(
            _transformed(_dance(6.0, seed=seed), scale=0.7, mirror=seed % 2 == 0, trim_s=0.5), CONFIG)
    alone = find_same_recordings(signatures, {}, dataclasses.replace(CONFIG, workers=1))
    assert find_same_recordings(signatures, {}, dataclasses.replace(CONFIG, workers=2)) == alone
    assert {(m.clip_a, m.clip_b) for m in alone} == {(f"d{seed:02d}", f"d{seed:02d}_copy") for seed in range(12)}


def _close_up(seconds: float, seed: int, sway_px: float, fps: float = 30.0) -> PoseSequence:
    """A head-and-shoulders close-up (only the head and shoulders are seen) swaying a few pixels on random paths."""
    dancer = _dance(seconds, seed, fps, still=True)
    rng = np.random.default_rng(seed + 100)
    times = dancer.frame_times
    phases, speeds = rng.uniform(0, 2 * np.pi, (7, 2)), rng.uniform(0.3, 1.5, (7, 2))
    keypoints = dancer.keypoints.copy()
    keypoints[:, 0, :7, :2] += sway_px * np.sin(2 * np.pi * speeds[None] * times[:, None, None] + phases[None])
    keypoints[:, 0, 7:, 2] = 0.05  # arms, hips and legs out of the picture
    return dataclasses.replace(dancer, keypoints=keypoints)


def test_a_close_up_is_compared_by_its_head():
    """Before, only shoulders-to-ankles counted: a close-up had no signature and matched nothing."""
    close_up = motion_signature(_close_up(6.0, seed=1, sway_px=20.0), CONFIG)
    assert close_up.seen_frames == len(close_up.poses) > 0
    copy = motion_signature(_transformed(_close_up(6.0, seed=1, sway_px=20.0), scale=0.5, trim_s=1.0), CONFIG)
    other = motion_signature(_close_up(6.0, seed=2, sway_px=20.0), CONFIG)
    assert same_recording(close_up, copy, CONFIG)[0] >= CONFIG.min_matching_share
    assert same_recording(close_up, other, CONFIG)[0] == 0.0


def _swaying_close_up(seconds: float, seed: int, fps: float = 30.0) -> PoseSequence:
    """A close-up whose joints barely move about the shoulders (1 px) while the head and shoulders sway together in
    the frame, up to 15 px (a quarter of the shoulder width) on a smooth random path."""
    close_up = _close_up(seconds, seed, sway_px=1.0, fps=fps)
    rng = np.random.default_rng(seed + 200)
    times = close_up.frame_times
    speeds, phases = rng.uniform(0.2, 1.2, (3, 2)), rng.uniform(0, 2 * np.pi, (3, 2))
    path = 5.0 * np.sin(2 * np.pi * speeds[None] * times[:, None, None] + phases[None]).sum(axis=1)  # [frames, 2]
    keypoints = close_up.keypoints.copy()
    keypoints[:, 0, :7, :2] += path[:, None, :]
    return dataclasses.replace(close_up, keypoints=keypoints)


def _jittered(sequence: PoseSequence, seed: int, px: float = 1.0) -> PoseSequence:
    """The pose detector's own noise: each copy of a video gets its joints placed a pixel or two off, independently."""
    keypoints = sequence.keypoints.copy()
    keypoints[..., :2] += np.random.default_rng(seed).normal(0.0, px, keypoints[..., :2].shape).astype(np.float32)
    return dataclasses.replace(sequence, keypoints=keypoints)


def test_a_close_up_that_sways_as_a_whole_matches_at_the_sound_alignment_by_its_path_in_the_frame():
    """Joints that barely move about the shoulders (below body_path_below_motion) say nothing by their correlation;
    at the alignment of the sound two clips share, the body's path in the frame does: a copy rescaled, shifted and
    trimmed is the same recording; another close-up, or the same dancer at other moments, to that sound is not.
    Searched over offsets (no shared sound) the path is not used: smooth paths line up by chance somewhere. (Before,
    such a copy matched nothing: the joints' correlation alone decided.)"""
    from tiktok_dm.model.links import AudioLink

    dancer = _swaying_close_up(14.0, seed=5)
    signatures = {
        "a": motion_signatures(_jittered(dancer, seed=1), CONFIG),
        "a_copy": motion_signatures(_jittered(_transformed(dancer, scale=0.6, shift=(80, -20), trim_s=1.0), seed=2),
                                   CONFIG),
        "other": motion_signatures(_jittered(_swaying_close_up(14.0, seed=6), seed=3), CONFIG)}
    for (signature,) in signatures.values():  # one person each; the joints barely move about the shoulders
        seen = signature.poses[:, np.isfinite(signature.poses).all(axis=(0, 2))]
        assert np.sqrt(np.mean((seen - seen.mean(axis=0)) ** 2)) < CONFIG.body_path_below_motion
        assert np.sqrt(np.nanmean((signature.path - signature.path.mean(axis=0)) ** 2)) > 2 * CONFIG.min_motion
    assert find_same_recordings(signatures, {}, CONFIG) == []
    (match,) = find_same_recordings(signatures, {}, CONFIG, [AudioLink("a", "a_copy", 90, offset_s=1.0)])
    assert (match.clip_a, match.clip_b, match.by_sound) == ("a", "a_copy", True)
    assert match.offset_s == pytest.approx(1.0, abs=CONFIG.sound_offset_slack_s)
    assert find_same_recordings(signatures, {}, CONFIG, [AudioLink("a", "other", 90, offset_s=1.0)]) == []
    assert find_same_recordings(signatures, {}, CONFIG, [AudioLink("a", "a_copy", 90, offset_s=4.0)]) == []
    still = dataclasses.replace(CONFIG, body_path_below_motion=0.0)  # the joints' correlation alone, as before
    assert find_same_recordings(signatures, {}, still, [AudioLink("a", "a_copy", 90, offset_s=1.0)]) == []


def test_a_dancer_who_barely_moves_matches_at_the_alignment_of_the_shared_sound():
    """Too little motion for the motion alone (below min_motion), the same recording when the sound the two clips
    share puts them at the alignment where they move alike; never another dancer to the same sound, nor the same
    dancer at another moment."""
    from tiktok_dm.model.links import AudioLink

    slight = _close_up(8.0, seed=3, sway_px=1.5)
    signatures = {"a": motion_signatures(slight, CONFIG),
                  "a_later": motion_signatures(_transformed(slight, scale=0.6, shift=(40, 0), trim_s=2.0), CONFIG),
                  "other": motion_signatures(_close_up(8.0, seed=4, sway_px=1.5), CONFIG)}
    assert find_same_recordings(signatures, {}, CONFIG) == []  # the motion alone is too slight
    right = AudioLink("a", "a_later", 90, offset_s=2.0)
    (match,) = find_same_recordings(signatures, {}, CONFIG, [right])
    assert (match.clip_a, match.clip_b, match.by_sound) == ("a", "a_later", True)
    assert match.offset_s == pytest.approx(2.0, abs=CONFIG.sound_offset_slack_s)
    assert find_same_recordings(signatures, {}, CONFIG, [AudioLink("a", "other", 90, offset_s=0.0)]) == []
    assert find_same_recordings(signatures, {}, CONFIG, [AudioLink("a", "a_later", 90, offset_s=-1.5)]) == []
    assert find_same_recordings(signatures, {}, CONFIG, [AudioLink("a", "a_later", 90, 2.0, speed=1.25)]) == []
    assert find_same_recordings(signatures, {}, dataclasses.replace(CONFIG, sound_anchored=False), [right]) == []


def _two_people(seconds: float) -> PoseSequence:
    """Two dancers side by side: a large one in the middle (the main dancer) and a smaller one at the right."""
    big, small = _dance(seconds, seed=1), _transformed(_dance(seconds, seed=2), scale=0.6, shift=(380, 120))
    keypoints = np.concatenate([big.keypoints, small.keypoints], axis=1)
    track_ids = np.tile(np.array([[0, 1]], np.int32), (len(keypoints), 1))
    return PoseSequence(keypoints, track_ids, big.frame_times, big.fps, 640, 480)


def test_a_copy_that_crops_the_main_dancer_away_matches_by_the_other_person():
    """A compilation layout keeps only the second person of a two-person video: the copy's main dancer is the
    original's second person. Each clip is compared by each of its people, so the pair is found (before, only the
    two main dancers were compared); the second person alone, in another video, is not."""
    original = _two_people(6.0)
    cropped = dataclasses.replace(original, keypoints=original.keypoints[:, 1:], track_ids=original.track_ids[:, 1:])
    people = {"original": motion_signatures(original, CONFIG),
              "cropped": motion_signatures(_transformed(cropped, scale=1.5, trim_s=0.8), CONFIG),
              "another": motion_signatures(_dance(6.0, seed=3), CONFIG)}
    assert len(people["original"]) == 2 and len(people["cropped"]) == 1
    (match,) = find_same_recordings(people, {}, CONFIG)
    assert (match.clip_a, match.clip_b) == ("cropped", "original")
    assert match.offset_s == pytest.approx(-0.8, abs=1 / CONFIG.rate_hz)
    mains = {clip: found[:1] for clip, found in people.items()}  # the main dancers only, as before
    assert find_same_recordings(mains, {}, CONFIG) == []


def test_matching_can_be_turned_off():
    signatures = {"a": motion_signatures(_dance(6.0, seed=1), CONFIG),
                  "a_again": motion_signatures(_transformed(_dance(6.0, seed=1), scale=0.5), CONFIG)}
    assert len(find_same_recordings(signatures, {}, CONFIG)) == 1
    assert find_same_recordings(signatures, {}, dataclasses.replace(CONFIG, enabled=False)) == []


@pytest.mark.needs_shared
def test_real_dancers_in_one_studio_never_match_while_a_relaid_copy_does(real_dance_dir, tmp_path):
    """Three AIST++ dancers filmed in one white studio hash alike as whole frames; their motion differs. A real clip
    letterboxed into a portrait compilation frame, and mirrored, is still the same recording."""
    from tiktok_dm.pose import estimate_video, get_backend

    def posed(video):
        with get_backend("mediapipe") as backend:
            return motion_signatures(estimate_video(video, backend, max_fps=15), CONFIG)

    studio = {name: posed(real_dance_dir / f"{name}.mp4") for name in ("d2m_D2M_high1", "d2m_D2M_low1", "cdcd_recons_gt")}
    needed = CONFIG.min_overlap_s * CONFIG.rate_hz
    assert all(people and people[0].seen_frames >= needed for people in studio.values())
    assert find_same_recordings(studio, {}, CONFIG) == []
    layouts = {"portrait": "scale=720:-2,pad=720:1280:(ow-iw)/2:(oh-ih)/2:black", "mirror": "hflip,scale=640:-2"}
    copies = {}
    for name, vf in layouts.items():
        target = tmp_path / f"{name}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(real_dance_dir / "iper_akun_1.mp4"),
                        "-vf", vf, "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", str(target)],
                       check=True)
        copies[name] = posed(target)
    copies["original"] = posed(real_dance_dir / "iper_akun_1.mp4")
    matches = {(m.clip_a, m.clip_b) for m in find_same_recordings(copies, {}, CONFIG)}
    assert matches == {("mirror", "original"), ("mirror", "portrait"), ("original", "portrait")}


def test_tables_keep_the_sound_evidence_and_read_an_earlier_build(tmp_path):
    from tiktok_dm.model.links import AudioLink, read_audio_links, write_audio_links
    from tiktok_dm.quality.recordings import RecordingMatch, read_matches, write_matches

    links = [AudioLink("a", "b", 40, offset_s=-1.25, speed=1.0), AudioLink("a", "=c", 12, 3.5, 1.1)]
    write_audio_links(links, tmp_path / "audio_links.csv")
    assert read_audio_links(tmp_path / "audio_links.csv") == links
    matches = [RecordingMatch("a", "b", 0.9, 40, -1.2, False, True, by_sound=True)]
    write_matches(matches, tmp_path / "recordings.csv")
    assert read_matches(tmp_path / "recordings.csv") == matches
    (tmp_path / "old.csv").write_text("clip_a,clip_b,share,frames,offset_s,mirrored,same_compilation\n"
                                      "a,b,0.9,40,-1.2,False,True\n")
    assert read_matches(tmp_path / "old.csv") == [dataclasses.replace(matches[0], by_sound=False)]
