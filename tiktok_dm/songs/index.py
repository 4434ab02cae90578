"""A persistent, incremental inverted index: quad hash -> postings (item, anchor time, span, frequency).

Layout of an index folder::

    index.json            items (key -> id, duration, metadata), live shards, fingerprint settings
    shards/s000007/*.npy  one shard: postings sorted by hash, plus the peaks of its items

Adding recordings never touches what is stored: ``add`` keeps them in memory and ``save`` writes
them as a new shard, then merges the newest shards while the newest is at least half the size of
the one before (a binary counter: O(log n) shards, each posting rewritten O(log n) times, no
fingerprint ever recomputed). Shard files are written with ``atomic_path`` and the manifest last,
with ``atomic_write_text``: a crash leaves the previous index intact (stray shards are swept on the
next save). One writer at a time.

Lookup cost: each distinct query hash is found by binary search in every shard (O(log n) each), and
a hash contributes at most ``max_postings_per_hash`` postings (an evenly spread sample of a longer
list), so the work per query is bounded by (query hashes x that cap) whatever the index size: it
grows with the index only until the common hashes reach the cap, then logarithmically
(``bench/songs.py`` measures it from 125 to 1,000 songs).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tiktok_dm.model.atomic import atomic_path, atomic_write_text
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.fingerprint import Fingerprints, Peaks, Quads
from tiktok_dm.songs.match import Hits, Match, check_peaks, passes, verify

log = logging.getLogger(__name__)

MANIFEST = "index.json"
FORMAT = 1
# Bumped whenever the code that turns audio into peaks or hashes changes (stored indexes then refuse it).
ALGORITHM = 2
# Settings that change the hashes: an index only accepts queries and additions made with the same ones.
FINGERPRINT_FIELDS = ("sample_rate", "hop_length", "fmin_hz", "n_octaves", "bins_per_semitone",
                      "prominence_semitones", "prominence_seconds", "peak_semitones", "peak_seconds", "peak_min_db",
                      "peaks_per_second", "peak_band_semitones", "fan_out", "partner_window", "max_df_semitones",
                      "freq_step", "max_span_s", "ratio_levels")
_POSTING_COLUMNS = ("hash", "item", "time", "span", "freq")
_PEAK_COLUMNS = ("peak_item", "peak_start", "peak_time", "peak_freq", "peak_strength")


@dataclasses.dataclass(frozen=True)
class IndexMatch:
    """A verified match of a query against the stored recording ``key``."""

    key: str
    # Query peaks that land on a stored peak once aligned, their share of the peaks compared, and how
    # many standard deviations that is above the chance level of this pair.
    score: int
    ratio: float
    significance: float
    # Distinct anchors of the agreeing quads (the candidate stage).
    hash_score: int
    # The alignment: query speed relative to the stored recording, pitch shift (semitones), and
    # where the query starts in the stored recording (s).
    speed: float
    pitch_shift: float
    offset_s: float

    @classmethod
    def from_match(cls, key: str, match: Match) -> "IndexMatch":
        return cls(key=key, score=match.peaks_matched, ratio=round(match.peak_ratio, 4),
                   significance=round(float(match.significance), 2), hash_score=match.score, speed=match.speed,
                   pitch_shift=match.pitch_shift, offset_s=match.offset_s)

    def alignment(self) -> Match:
        return Match(item=-1, score=self.hash_score, speed=self.speed, pitch_shift=self.pitch_shift,
                     offset_s=self.offset_s)


@dataclasses.dataclass
class _Shard:
    name: str | None  # None while only in memory
    columns: dict[str, np.ndarray]

    @property
    def postings(self) -> int:
        return int(self.columns["hash"].size)

    @classmethod
    def build(cls, entries: list[tuple[int, Fingerprints]], config: SongsConfig) -> "_Shard":
        hashes, items, times, spans, freqs = [], [], [], [], []
        for item, fingerprints in entries:
            quads = fingerprints.quads(config)
            hashes.append(quads.hashes)
            items.append(np.full(quads.hashes.size, item, dtype=np.uint32))
            times.append(quads.anchor_time)
            spans.append(quads.span)
            freqs.append(quads.anchor_freq)
        order = np.argsort(np.concatenate(hashes), kind="stable") if hashes else np.zeros(0, np.int64)
        columns = {name: np.concatenate(parts)[order] if parts else np.zeros(0, dtype)
                   for name, parts, dtype in (("hash", hashes, np.uint32), ("item", items, np.uint32),
                                              ("time", times, np.float32), ("span", spans, np.float32),
                                              ("freq", freqs, np.float32))}
        columns["span"] = columns["span"].astype(np.float16)
        columns["freq"] = columns["freq"].astype(np.float16)
        peaks = [fingerprints.peaks for _, fingerprints in entries]
        columns["peak_item"] = np.array([item for item, _ in entries], dtype=np.int64)
        columns["peak_start"] = np.concatenate([[0], np.cumsum([p.time.size for p in peaks])]).astype(np.int64)
        for name in ("time", "freq", "strength"):
            columns[f"peak_{name}"] = np.concatenate([getattr(p, name) for p in peaks]).astype(np.float32) \
                if peaks else np.zeros(0, np.float32)
        return cls(name=None, columns=columns)

    @classmethod
    def merge(cls, shards: list["_Shard"], alive: np.ndarray) -> "_Shard":
        """One shard holding the live items of ``shards`` (older first), postings re-sorted by hash."""
        columns: dict[str, np.ndarray] = {}
        keep = [alive[s.columns["item"]] for s in shards]
        for name in _POSTING_COLUMNS:
            columns[name] = np.concatenate([np.asarray(s.columns[name])[k] for s, k in zip(shards, keep)])
        order = np.argsort(columns["hash"], kind="stable")
        for name in _POSTING_COLUMNS:
            columns[name] = columns[name][order]
        items, starts, peak_parts = [], [0], {n: [] for n in ("time", "freq", "strength")}
        for shard in shards:
            start = shard.columns["peak_start"]
            for position, item in enumerate(shard.columns["peak_item"]):
                if not alive[item]:
                    continue
                items.append(int(item))
                lo, hi = int(start[position]), int(start[position + 1])
                for n in peak_parts:
                    peak_parts[n].append(np.asarray(shard.columns[f"peak_{n}"][lo:hi]))
                starts.append(starts[-1] + hi - lo)
        columns["peak_item"] = np.array(items, dtype=np.int64)
        columns["peak_start"] = np.array(starts, dtype=np.int64)
        for n, parts in peak_parts.items():
            columns[f"peak_{n}"] = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        return cls(name=None, columns=columns)

    def peaks(self, item: int) -> Peaks | None:
        items = self.columns["peak_item"]
        position = int(np.searchsorted(items, item))
        if position >= items.size or items[position] != item:
            return None
        lo, hi = int(self.columns["peak_start"][position]), int(self.columns["peak_start"][position + 1])
        return Peaks(time=np.asarray(self.columns["peak_time"][lo:hi]),
                     freq=np.asarray(self.columns["peak_freq"][lo:hi]),
                     strength=np.asarray(self.columns["peak_strength"][lo:hi]))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, values in self.columns.items():
            with atomic_path(folder / f"{name}.npy") as tmp:
                np.save(tmp, np.asarray(values))

    @classmethod
    def load(cls, folder: Path) -> "_Shard":
        columns = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _POSTING_COLUMNS + _PEAK_COLUMNS}
        return cls(name=folder.name, columns=columns)


class FingerprintIndex:
    """Fingerprints of many recordings, each under a string key (a file path, a song name).

    ``FingerprintIndex(path)`` opens (or starts) the index in folder ``path``; ``FingerprintIndex()``
    is an index in memory only. ``add`` then ``save`` to store; ``query`` to find matches.
    """

    def __init__(self, path: str | Path | None = None, config: SongsConfig | None = None):
        self.path = Path(path) if path is not None else None
        self._items: dict[str, dict[str, Any]] = {}
        self._keys: dict[int, str] = {}
        self._shards: list[_Shard] = []
        self._pending: list[tuple[int, Fingerprints]] = []
        self._pending_shard: _Shard | None = None
        self._next_id = 0
        self._next_shard = 0
        # Changed since the last save (an addition or a removal).
        self.dirty = False
        stored = self._read_manifest() if self.path is not None and (self.path / MANIFEST).is_file() else None
        if stored is None:
            self.config = config or SongsConfig()
            return
        settings = stored["config"]
        if stored.get("algorithm") != ALGORITHM:
            raise ValueError(f"index {self.path} was built by fingerprint algorithm {stored.get('algorithm')} "
                             f"(this is {ALGORITHM}); build a new index folder")
        if config is not None:
            differ = [f for f in FINGERPRINT_FIELDS if settings.get(f) != getattr(config, f)]
            if differ:
                raise ValueError(f"index {self.path} was built with other fingerprint settings ({', '.join(differ)}); "
                                 "use the same settings or a new index folder")
            self.config = config
        else:
            self.config = dataclasses.replace(SongsConfig(), **{f: settings[f] for f in FINGERPRINT_FIELDS})
        self._items = stored["items"]
        self._keys = {record["id"]: key for key, record in self._items.items()}
        self._next_id = stored["next_id"]
        self._next_shard = stored["next_shard"]
        self._shards = [_Shard.load(self.path / "shards" / name) for name in stored["shards"]]

    # --- contents ---
    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def keys(self) -> list[str]:
        return list(self._items)

    def meta(self, key: str) -> dict[str, Any]:
        return dict(self._items[key]["meta"])

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    @property
    def postings(self) -> int:
        """Stored postings (quads), live or not yet merged away, pending additions included."""
        return sum(s.postings for s in self._all_shards())

    def fingerprints(self, key: str) -> Fingerprints:
        """The stored fingerprints of ``key`` (no audio needed)."""
        record = self._items[key]
        for item, fingerprints in self._pending:
            if item == record["id"]:
                return fingerprints
        for shard in self._shards:
            peaks = shard.peaks(record["id"])
            if peaks is not None:
                return Fingerprints(peaks=peaks, duration_s=record["duration_s"])
        raise KeyError(key)

    def add(self, key: str, fingerprints: Fingerprints, meta: dict[str, Any] | None = None) -> None:
        """Add (or replace) ``key``; nothing already stored is recomputed. Call ``save`` to persist."""
        if key in self._items:
            self.remove(key)
        item = self._next_id
        self._next_id += 1
        self._items[key] = {"id": item, "duration_s": fingerprints.duration_s, "meta": dict(meta or {})}
        self._keys[item] = key
        self._pending.append((item, fingerprints))
        self._pending_shard = None
        self.dirty = True

    def remove(self, key: str) -> None:
        record = self._items.pop(key)
        del self._keys[record["id"]]
        self._pending = [p for p in self._pending if p[0] != record["id"]]
        self._pending_shard = None
        self.dirty = True

    # --- persistence ---
    def save(self) -> None:
        if self.path is None:
            raise ValueError("this index lives in memory only (no path); give FingerprintIndex a folder to save it")
        self.path.mkdir(parents=True, exist_ok=True)
        if self._pending:
            self._shards.append(self._write(_Shard.build(self._pending, self.config)))
            self._pending, self._pending_shard = [], None
        alive = self._alive()
        while len(self._shards) >= 2 and 2 * self._shards[-1].postings >= self._shards[-2].postings:
            merged = _Shard.merge(self._shards[-2:], alive)
            self._shards[-2:] = [self._write(merged)]
        payload = {"format": FORMAT, "algorithm": ALGORITHM,
                   "config": {f: getattr(self.config, f) for f in FINGERPRINT_FIELDS},
                   "next_id": self._next_id, "next_shard": self._next_shard,
                   "shards": [s.name for s in self._shards], "items": self._items}
        atomic_write_text(self.path / MANIFEST, json.dumps(payload, indent=0, sort_keys=True))
        self.dirty = False
        live = {s.name for s in self._shards}
        for folder in (self.path / "shards").iterdir() if (self.path / "shards").is_dir() else ():
            if folder.name not in live:
                shutil.rmtree(folder, ignore_errors=True)

    def compact(self) -> None:
        """Rewrite the stored shards without the items removed since they were written, then save: a removed
        recording's peaks must not stay on disk (a takedown)."""
        if self.path is None:
            raise ValueError("this index lives in memory only (no path)")
        self.save()
        if self._shards:
            self._shards = [self._write(_Shard.merge(self._shards, self._alive()))]
            self.dirty = True
            self.save()

    def _write(self, shard: _Shard) -> _Shard:
        name = f"s{self._next_shard:06d}"
        self._next_shard += 1
        shard.save(self.path / "shards" / name)
        return _Shard.load(self.path / "shards" / name)

    def _read_manifest(self) -> dict[str, Any]:
        stored = json.loads((self.path / MANIFEST).read_text())
        if stored.get("format") != FORMAT:
            raise ValueError(f"{self.path / MANIFEST}: unknown index format {stored.get('format')!r}")
        return stored

    # --- queries ---
    def _alive(self) -> np.ndarray:
        alive = np.zeros(self._next_id + 1, dtype=bool)
        alive[list(self._keys)] = True
        return alive

    def prepare(self) -> None:
        """Build the in-memory shard of unsaved additions now (before forking query workers)."""
        list(self._all_shards())

    def _all_shards(self) -> Iterator[_Shard]:
        yield from self._shards
        if self._pending:
            if self._pending_shard is None:
                self._pending_shard = _Shard.build(self._pending, self.config)
            yield self._pending_shard

    def lookup(self, quads: Quads) -> Hits:
        """The stored postings whose hash equals one of the query's hashes.

        A hash with more than ``max_postings_per_hash`` postings (a common pattern, or a song many
        clips use) contributes an evenly spread sample of that many: the work per query hash is bounded
        whatever the index size, and the clips of a popular song still find many of their siblings.
        """
        shards = list(self._all_shards())
        # Binary search for the distinct query hashes in sorted order: fewer searches, each starting
        # where the previous one ended (numpy's searchsorted exploits sorted keys).
        distinct, which = np.unique(quads.hashes, return_inverse=True)
        bounds = [(np.searchsorted(s.columns["hash"], distinct, "left"),
                   np.searchsorted(s.columns["hash"], distinct, "right")) for s in shards]
        total = sum((hi - lo for lo, hi in bounds), np.zeros(distinct.size, np.int64))[which]
        share = np.minimum(1.0, self.config.max_postings_per_hash / np.maximum(total, 1))
        parts: dict[str, list[np.ndarray]] = {n: [] for n in ("quad", "item", "time", "span", "freq")}
        for shard, (lo, hi) in zip(shards, bounds):
            first, count = lo[which], (hi - lo)[which]
            take = np.where(share < 1.0, np.ceil(count * share), count).astype(np.int64)
            n = int(take.sum())
            if n == 0:
                continue
            query_row = np.repeat(np.arange(quads.hashes.size), take)
            rank = np.arange(n) - np.repeat(np.cumsum(take) - take, take)
            stride = np.repeat(count / np.maximum(take, 1), take)
            posting = np.repeat(first, take) + (rank * stride).astype(np.int64)
            parts["quad"].append(quads.owner[query_row])
            for name in ("item", "time", "span", "freq"):
                parts[name].append(np.asarray(shard.columns[name][posting]))
        if not parts["quad"]:
            empty = np.zeros(0, np.float32)
            return Hits(quad=np.zeros(0, np.int64), item=np.zeros(0, np.int64), time=empty, span=empty, freq=empty)
        return Hits(quad=np.concatenate(parts["quad"]), item=np.concatenate(parts["item"]).astype(np.int64),
                    time=np.concatenate(parts["time"]), span=np.concatenate(parts["span"]).astype(np.float32),
                    freq=np.concatenate(parts["freq"]).astype(np.float32))

    def query(self, fingerprints: Fingerprints, min_score: int | None = None, exclude: str | None = None,
              config: SongsConfig | None = None, min_ratio: float | None = None,
              min_significance: float | None = None) -> list[IndexMatch]:
        """Stored recordings that match ``fingerprints``, best first: at least ``min_score`` peaks agree,
        a share ``min_ratio`` of the compared peaks, ``min_significance`` standard deviations above chance
        (defaults: the link thresholds of the config).

        ``config`` may change the matching settings (thresholds, tolerances), never the fingerprint ones.
        """
        config = config or self.config
        quads = fingerprints.quads(self.config, probe=True)
        hits = self.lookup(quads)
        alive = self._alive()
        if exclude is not None and exclude in self._items:
            alive[self._items[exclude]["id"]] = False
        keep = alive[hits.item]
        hits = Hits(quad=hits.quad[keep], item=hits.item[keep], time=hits.time[keep], span=hits.span[keep],
                    freq=hits.freq[keep])
        candidates = verify(quads, hits, config, config.candidate_score)
        thresholds = (config.link_score if min_score is None else min_score,
                      config.min_peak_ratio if min_ratio is None else min_ratio,
                      config.min_significance if min_significance is None else min_significance)
        found = []
        for candidate in candidates:
            checked = check_peaks(candidate, fingerprints.peaks, self.fingerprints(self._keys[candidate.item]).peaks,
                                  config)
            if passes(checked, *thresholds):
                found.append(IndexMatch.from_match(self._keys[candidate.item], checked))
        return sorted(found, key=lambda m: (-m.score, m.key))
