"""Fingerprint stage: a cut clip's wav -> its spectral peaks (``songs/fingerprints/<clip_id>.npz``).

The build then resolves every clip's song id from these fingerprints (``tiktok_dm.dataset.song_ids``).
The item's identity includes the cut record's input hash, so a re-cut clip is fingerprinted again and a
finished one never is.
"""

from __future__ import annotations

import dataclasses

from tiktok_dm.config import BuildConfig
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.outputs import FingerprintOutput
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.extract import fingerprint_file
from tiktok_dm.songs.index import FINGERPRINT_FIELDS
from tiktok_dm.stages.base import Stage

FINGERPRINTS_DIR = "songs/fingerprints"


@dataclasses.dataclass(frozen=True)
class FingerprintItem:
    clip_id: str
    audio_path: str  # the clip's wav, relative to the build directory
    cut_input_hash: str  # the cut record's input hash: changes whenever the clip's audio does

    def identity(self) -> str:
        return repr((self.clip_id, self.audio_path, self.cut_input_hash))


class FingerprintStage(Stage[FingerprintItem, FingerprintOutput]):
    output_type = FingerprintOutput

    config: SongsConfig

    @classmethod
    def from_config(cls, config: BuildConfig, build_dir: BuildDir) -> "FingerprintStage":
        return cls(config.songs.fingerprint, build_dir)

    def settings_identity(self) -> str:
        """Only what shapes the peaks (thresholds and worker counts do not)."""
        fields = FINGERPRINT_FIELDS + ("min_duration_s", "silence_dbfs")
        return repr({f: getattr(self.config, f) for f in fields})

    def key(self, item: FingerprintItem) -> str:
        return item.clip_id

    def run(self, item: FingerprintItem) -> FingerprintOutput:
        fingerprints = fingerprint_file(self.build_dir.absolute(item.audio_path), self.config)
        target = self.build_dir.root / FINGERPRINTS_DIR / f"{item.clip_id}.npz"
        fingerprints.save(target)
        return FingerprintOutput(path=self.build_dir.relative(target), num_peaks=int(fingerprints.peaks.time.size),
                                 duration_s=fingerprints.duration_s)
