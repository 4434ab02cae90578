"""``d2m-train report``: the paper's Table 1 (AIST++) and Table 2 (TikTok), our numbers next to the paper's.

Inputs are ``d2m-train evaluate ... --out DIR`` folders (``beats.json`` and/or ``genre.json``). Each folder is one
generation of one run; its ``generation`` record (from ``generate``'s ``generation.json``) places it on a row:
dataset -> table, level -> high/low, inputs -> full / w/o M / w/o V. Every paper row is written, with "not run"
where we have no result. The last column says what differed from the paper's setting (codebook source, visual
features, data subset, genre embedder, training steps, denoising). Paper values: D2M_GAN_REFERENCE.md 6.3 (Tables 1,
2 and 4 of the paper); MOS is a human study and is never filled in by us.

Outputs: ``table1_aistpp.md/.csv`` and ``table2_tiktok.md/.csv`` in the output folder.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from d2m_train.evaluation import BEATS_FILE, GENRE_FILE, PAPER_EPOCHS, PAPER_STEPS

# Paper test-set sizes (2-s segments): TikTok 307 (official test list), AIST++ 86 (D2M's crossmodal_test segments).
PAPER_TEST_SEGMENTS = {"tiktok": 307, "aistplus": 86}
ABLATIONS = ("full", "w/o M", "w/o V")


@dataclasses.dataclass(frozen=True)
class PaperRow:
    method: str
    key: tuple[str, str, str] | None  # (dataset, level, ablation) our results fill; None: another method
    cover: float | None
    hit: float | None
    genre: float | None = None
    coherence: float | None = None
    quality: float | None = None
    always: bool = True  # written even without a result of ours


TABLE1 = (  # AIST++ (paper Table 1; the ablation rows are Table 4 and appear when we have them)
    PaperRow("Dance2Music", None, 83.5, 82.4, 7.0, 2.8),
    PaperRow("Foley Music", None, 74.1, 69.4, 8.1, 2.8),
    PaperRow("CMT", None, 85.5, 83.5, 11.6, 3.0),
    PaperRow("D2M-GAN high", ("aistplus", "high", "full"), 88.2, 84.7, 24.4, 3.5, 3.5),
    PaperRow("D2M-GAN low", ("aistplus", "low", "full"), 92.3, 91.7, 26.7, 3.3, 3.7),
    PaperRow("D2M-GAN high w/o M (Table 4)", ("aistplus", "high", "w/o M"), 83.5, 82.9, 15.1, always=False),
    PaperRow("D2M-GAN high w/o V (Table 4)", ("aistplus", "high", "w/o V"), 87.1, 88.2, 16.3, always=False),
    PaperRow("D2M-GAN low w/o M (Table 4)", ("aistplus", "low", "w/o M"), 89.4, 87.6, 15.1, always=False),
    PaperRow("D2M-GAN low w/o V (Table 4)", ("aistplus", "low", "w/o V"), 90.6, 90.0, 17.4, always=False),
    PaperRow("Random JukeBox / JukeBox recon", None, None, None, None, 2.0, 3.5),
    PaperRow("GT", None, None, None, None, 4.6, 4.8),
)
TABLE2 = (  # TikTok (paper Table 2)
    PaperRow("High w/o M", ("tiktok", "high", "w/o M"), 85.5, 72.4),
    PaperRow("High w/o V", ("tiktok", "high", "w/o V"), 86.3, 81.7),
    PaperRow("High (full)", ("tiktok", "high", "full"), 88.4, 82.3),
    PaperRow("Low w/o M", ("tiktok", "low", "w/o M"), 83.8, 74.6),
    PaperRow("Low w/o V", ("tiktok", "low", "w/o V"), 85.2, 81.7),
    PaperRow("Low (full)", ("tiktok", "low", "full"), 87.1, 83.9),
)


@dataclasses.dataclass
class Result:
    folder: Path
    generation: dict
    beats: dict | None
    genre: dict | None

    @property
    def key(self) -> tuple[str, str, str]:
        inputs = self.generation.get("inputs", {})
        ablation = ("w/o M" if not inputs.get("motion", True) else
                    "w/o V" if inputs.get("visual", "none") == "none" else "full")
        return self.generation["dataset"], self.generation["level"], ablation


def read_result(folder: str | Path) -> Result:
    """One ``evaluate --out`` folder; beats and genre must come from the same generation."""
    folder = Path(folder)
    payloads = {}
    for name in (BEATS_FILE, GENRE_FILE):
        path = folder / name
        if path.is_file():
            try:
                payloads[name] = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not payloads:
        raise FileNotFoundError(f"{folder} holds neither {BEATS_FILE} nor {GENRE_FILE}: write them with "
                                "`d2m-train evaluate beats|genre ... --out " f"{folder}`")
    generations = {}
    for name, payload in payloads.items():
        generation = payload.get("generation")
        if not generation:
            raise ValueError(f"{folder / name} records no generation (no generation.json next to the generated wavs): "
                             "generate with `d2m-train generate`, or pass --generation FILE to evaluate")
        for field in ("dataset", "level", "inputs"):
            if field not in generation:
                raise ValueError(f"{folder / name}: its generation record has no {field!r}")
        generations[name] = generation
    identities = {(g.get("checkpoint"), g.get("split"), g.get("step")) for g in generations.values()}
    if len(identities) > 1:
        raise ValueError(f"{folder}: {BEATS_FILE} and {GENRE_FILE} come from different generations "
                         f"{sorted(identities)}")
    return Result(folder, next(iter(generations.values())), payloads.get(BEATS_FILE), payloads.get(GENRE_FILE))


def differences(result: Result) -> list[str]:
    """What differed from the paper's setting, for the last column."""
    g = result.generation
    notes = []
    vqvae = g.get("vqvae") or {}
    notes.append(f"codebook: {vqvae.get('origin', 'unknown')} {vqvae.get('name', '')}".rstrip()
                 + " (paper: JukeBox 5b VQ-VAE fine-tuned on the dataset)")
    visual = g["inputs"].get("visual", "none")
    if visual not in ("none", "precomputed"):
        notes.append(f"visual: {visual} (paper: Kinetics I3D)")
    source = g.get("data_source") or {}
    expected = PAPER_TEST_SEGMENTS[g["dataset"]]
    if g.get("split") != "test" or g.get("segments") != expected or source.get("kind") != "official_lists":
        notes.append(f"data: {source.get('kind', '?')}, split {g.get('split')}, {g.get('segments')} segments "
                     f"(paper: official test list, {expected})")
    if result.genre is not None:  # always named, VGGish or not
        embedder = str(result.genre.get("embedder", "unknown"))
        notes.append(f"genre embedder: {embedder}" + ("" if embedder.startswith("vggish")
                                                      else " (paper: VGGish, AudioSet)"))
    if result.genre is not None and result.genre.get("label", "genre") != "genre":
        notes.append(f"genre column retrieves {result.genre['label']} labels, not genres")
    if g["inputs"].get("genre"):
        notes.append("generator sees the ground-truth genre (official AIST++ code, not in the paper)")
    paper_steps = g.get("paper_steps") or PAPER_STEPS[g["dataset"]]
    if g.get("epochs") is not None:  # judged in epochs: the loaders' batches per epoch differ (414 vs 415)
        if g["epochs"] < g.get("paper_epochs", PAPER_EPOCHS):
            notes.append(f"training: {g['epochs']:g} epochs ({g.get('step')} steps) of config {g.get('config_name')} "
                         f"(paper: {g.get('paper_epochs', PAPER_EPOCHS)} epochs)")
    elif g.get("step") != paper_steps:
        notes.append(f"training: {g.get('step')} steps of config {g.get('config_name')} (paper: {paper_steps})")
    if not g.get("denoised", False):
        notes.append("no noisereduce denoising")
    return notes


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _table(rows: tuple[PaperRow, ...], results: dict[tuple, Result], with_genre: bool, with_mos: bool
           ) -> pd.DataFrame:
    records = []
    for row in rows:
        result = results.get(row.key) if row.key else None
        if result is None and not row.always:
            continue
        beats = result.beats if result else None
        genre = result.genre if result else None
        record = {"Method": row.method,
                  "Cover (paper)": _percent(row.cover),
                  "Cover (ours)": _percent(100 * beats["coverage"]) if beats else None,
                  "Hit (paper)": _percent(row.hit), "Hit (ours)": _percent(100 * beats["hit"]) if beats else None}
        if with_genre:
            record["Genre (paper)"] = _percent(row.genre)
            record["Genre (ours)"] = (f"{100 * genre['accuracy']:.1f} ({genre['correct']}/{genre['total']})"
                                      if genre else None)
        if with_mos:
            record["Coherence MOS (paper)"] = _percent(row.coherence)
            record["Quality MOS (paper)"] = _percent(row.quality)
        if row.key is None:
            for column in [c for c in record if c.endswith("(ours)")]:
                record[column] = "–"
            record["What differed"] = "not reproduced here (another method or a reference row)"
        elif result is None:
            for column in [c for c in record if c.endswith("(ours)")]:
                record[column] = "not run"
            record["What differed"] = "not run"
        else:
            for column in [c for c in record if c.endswith("(ours)") and record[c] is None]:
                record[column] = "not evaluated"
            record["What differed"] = "; ".join(differences(result))
            record["Result"] = str(result.folder)
        records.append(record)
    table = pd.DataFrame(records)
    if "Result" in table:
        table["Result"] = table["Result"].fillna("")
    return table


def _markdown(table: pd.DataFrame, title: str, notes: list[str]) -> str:
    columns = list(table.columns)
    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for record in table.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "/") for v in record) + " |")
    return "\n".join(lines + [""] + [f"- {note}" for note in notes]) + "\n"


def write_report(result_dirs: list[str | Path], out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    results: dict[tuple, Result] = {}
    for folder in result_dirs:
        result = read_result(folder)
        if result.key in results:
            raise ValueError(f"{results[result.key].folder} and {result.folder} both hold {' '.join(result.key)}: "
                             "give one result folder per table row")
        results[result.key] = result
    out_dir.mkdir(parents=True, exist_ok=True)
    common = ["Numbers are x100. Ours: `d2m-train evaluate` (beats: the official Beats_Scores rules; genre: "
              "nearest-neighbour retrieval). MOS columns are the paper's human study; we ran none."]
    tiktok_genre = any(r.genre is not None for k, r in results.items() if k[0] == "tiktok")
    tables = {
        "table1_aistpp": (_table(TABLE1, results, with_genre=True, with_mos=True),
                          "Table 1: AIST++ (paper Table 1, with the Table 4 ablations we ran)"),
        "table2_tiktok": (_table(TABLE2, results, with_genre=tiktok_genre, with_mos=False),
                          "Table 2: TikTok dance-music dataset (paper Table 2)"),
    }
    written = []
    for stem, (table, title) in tables.items():
        notes = common + (["The paper reports no genre accuracy on TikTok; the Genre column is ours only."]
                          if stem == "table2_tiktok" and tiktok_genre else [])
        table.to_csv(out_dir / f"{stem}.csv", index=False)
        (out_dir / f"{stem}.md").write_text(_markdown(table, title, notes))
        written += [out_dir / f"{stem}.md", out_dir / f"{stem}.csv"]
    return written
