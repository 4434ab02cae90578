"""Ablation switches (w/o M, w/o V), provenance of generated wavs, machine-readable evaluation results and the
paper-table report, on a tiny synthetic build trained for two steps."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from d2m_fixtures import synthetic_build
from d2m_train import builders
from d2m_train.cli import cli
from d2m_train.config import load_config
from d2m_train.evaluation import write_beats_result
from d2m_train.metrics.beats import BeatsScore, PairScore
from d2m_train.report import read_result, write_report
from d2m_train.vqvae import JukeboxVQVAE, VQVAEHParams, save_vqvae

TINY = ["model.level=high", "model.generator.channels=[4, 4, 4, 4, 4]", "model.motion.channels=[4, 4, 8]",
        "model.motion.hidden=64", "model.motion.out_dim=16", "model.discriminator.ndf=4",
        "model.discriminator.max_channels=16", "model.discriminator.penultimate_channels=8", "train.cpu_threads=0"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tiny(*overrides: str):
    return load_config("d2m_train/configs/cpu_smoke.yaml", [*TINY, *overrides])


# ------------------------------------------------------------------------------------------------- ablations
def test_ablation_switches_remove_the_input_branch():
    full, no_motion, no_visual = (builders.get_generator(tiny(*o)) for o in
                                  ([], ["data.use_motion=false"], ["data.visual=none"]))
    assert no_motion.motion_encoder is None and no_visual.visual is None
    input_length = full.vq_generator.input_length
    # w/o M drops the motion encoder and the 16 motion columns of the input Linear; w/o V the 2048 visual ones.
    assert count(full) - count(no_motion) == count(full.motion_encoder) + 16 * input_length
    assert count(full) - count(no_visual) == 2048 * input_length  # G_v is the identity (official)
    assert no_motion.vq_generator.input_proj.in_features == 2048
    assert no_visual.vq_generator.input_proj.in_features == 16
    torch.manual_seed(0)
    video, motion = torch.randn(2, 1, 2048), torch.randn(2, 60, 75)
    no_motion.eval(), no_visual.eval(), full.eval()
    with torch.no_grad():
        # The dropped input is ignored: any value (or none) gives the same latent ...
        assert torch.equal(no_motion(motion=motion, video=video), no_motion(motion=-motion, video=video))
        assert torch.equal(no_motion(video=video), no_motion(motion=motion, video=video))
        assert torch.equal(no_visual(motion=motion, video=video), no_visual(motion=motion, video=video * 0))
        # ... while the full generator depends on both.
        assert not torch.equal(full(motion=motion, video=video), full(motion=motion, video=video * 0))
        assert not torch.equal(full(motion=motion, video=video), full(motion=-motion, video=video))
    with pytest.raises(ValueError, match="leaves the generator no input"):
        tiny("data.use_motion=false", "data.visual=none")


# ------------------------------------------------------------------------------ a run, its generation, its result


@pytest.fixture(scope="module")
def nomotion_samples(tmp_path_factory):
    """A w/o M run (frame_stats visual only) trained 2 steps, generated on its test split."""
    root = tmp_path_factory.mktemp("ablation")
    build = synthetic_build(root / "build", songs=True, frame_stats=True)
    torch.manual_seed(0)
    vqvae = JukeboxVQVAE(VQVAEHParams(l_bins=16, width=4, depth=1, multipliers=(1, 1, 1)))
    for block in vqvae.bottleneck.level_blocks:
        block.k.normal_()
    save_vqvae(vqvae, root / "vqvae.pt", step=7)
    args = ["--config", "d2m_train/configs/cpu_smoke.yaml", "--data", str(build), "--vqvae", str(root / "vqvae.pt"),
            "--features", str(build / "features"), "--steps", "2", *(x for o in TINY for x in ("--set", o)),
            "--set", "data.use_motion=false"]
    runner = CliRunner()
    result = runner.invoke(cli, ["fit", *args, "--out", str(root / "run")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["generate", "--run", str(root / "run"), "--out", str(root / "samples"), "--no-mux"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root / "samples"


def test_generation_records_the_inputs_used(nomotion_samples):
    info = json.loads((nomotion_samples / "generation.json").read_text())
    assert info["inputs"] == {"motion": False, "visual": "frame_stats_v1", "genre": False}
    assert (info["dataset"], info["level"], info["split"], info["segments"], info["step"]) == ("tiktok", "high",
                                                                                               "test", 2, 2)
    assert info["vqvae"]["origin"] == "d2m-train vqvae (7 steps on the dataset's audio)"
    assert info["vqvae"]["jukebox_5b_shape"] is False and info["data_source"]["kind"] == "build"


def test_evaluate_writes_results_that_carry_the_generation(nomotion_samples, tmp_path):
    runner = CliRunner()
    out = tmp_path / "eval"
    result = runner.invoke(cli, ["evaluate", "beats", "--generated", str(nomotion_samples / "generated"),
                                 "--reference", str(nomotion_samples / "original"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "(tiktok high, step 2, inputs: visual frame_stats_v1," in result.output
    beats = json.loads((out / "beats.json").read_text())
    assert beats["generation"]["inputs"]["motion"] is False and beats["pairs"] == 2
    pairs = pd.read_csv(out / "beats_pairs.csv")
    assert list(pairs["generated"]) == ["000000_2_2_seg1.wav", "000000_2_2_seg2.wav"]
    assert beats["coverage"] == pytest.approx(pairs["coverage"].mean())
    assert beats["hit"] == pytest.approx(pairs["hit"].mean())
    assert (pairs["reference_bins"] > 0).all()
    # Genre retrieval with the build's song ids as labels (TikTok has no genres).
    labels = tmp_path / "songs.csv"
    table = pd.read_csv(nomotion_samples.parent / "build" / "segments.csv")
    table.assign(file=table["segment"] + ".wav", genre=table["song_id"])[["file", "genre"]].to_csv(labels, index=False)
    result = runner.invoke(cli, ["evaluate", "genre", "--generated", str(nomotion_samples / "generated"),
                                 "--generated-genres", str(labels), "--database", str(nomotion_samples / "original"),
                                 "--database-genres", str(labels), "--label", "song_id", "--out", str(out)])
    assert result.exit_code == 0, result.output
    genre = json.loads((out / "genre.json").read_text())
    assert genre["label"] == "song_id" and genre["total"] == 2 and genre["embedder"].startswith("mfcc-stats-20")
    assert genre["generation"]["file"] == str(nomotion_samples / "generation.json")

    report = tmp_path / "report"
    result = runner.invoke(cli, ["report", "--results", str(out), "--out", str(report)])
    assert result.exit_code == 0, result.output
    table2 = pd.read_csv(report / "table2_tiktok.csv", dtype=str, keep_default_na=False)
    row = table2.set_index("Method").loc["High w/o M"]
    assert (row["Cover (paper)"], row["Hit (paper)"]) == ("85.5", "72.4")
    assert row["Cover (ours)"] == f"{100 * beats['coverage']:.1f}" and row["Hit (ours)"] == f"{100 * beats['hit']:.1f}"
    assert row["Genre (ours)"] == f"{100 * genre['accuracy']:.1f} ({genre['correct']}/2)"
    for note in ("codebook: d2m-train vqvae (7 steps", "data: build, split test, 2 segments (paper: official test "
                 "list, 307)", "genre embedder: mfcc-stats-20", "retrieves song_id labels", "training: 1 epochs (2 steps)",
                 "no noisereduce"):
        assert note in row["What differed"], note
    assert "visual:" in row["What differed"] and "frame_stats_v1" in row["What differed"]
    assert set(table2.set_index("Method").drop("High w/o M")["Cover (ours)"]) == {"not run"}
    markdown = (report / "table2_tiktok.md").read_text()
    assert "| High w/o M | 85.5 |" in markdown and "no genre accuracy on TikTok" in markdown
    table1 = pd.read_csv(report / "table1_aistpp.csv", dtype=str, keep_default_na=False)
    assert list(table1["Method"]) == ["Dance2Music", "Foley Music", "CMT", "D2M-GAN high", "D2M-GAN low",
                                      "Random JukeBox / JukeBox recon", "GT"]


def _result_dir(folder, dataset, level, motion, visual, step=10, checkpoint="ck.pt"):
    """An evaluation folder with beats pairs (1, 1) and (0.5, 0.5): coverage and hit 0.75."""
    generation = {"dataset": dataset, "level": level, "inputs": {"motion": motion, "visual": visual, "genre": False},
                  "checkpoint": checkpoint, "split": "test", "step": step, "segments": 86,
                  "data_source": {"kind": "official_lists"}, "config_name": "aist_low",
                  "vqvae": {"origin": "external JukeBox-layout file (5b shape)", "name": "vqvae.pth.tar"}}
    score = BeatsScore((PairScore("r.wav", "g.wav", 2, 2, 2), PairScore("r2.wav", "g2.wav", 2, 1, 1)))
    write_beats_result(score, folder / "gen", folder / "ref", folder, generation)
    return folder


def test_report_places_rows_and_refuses_ambiguous_input(tmp_path):
    low = _result_dir(tmp_path / "low", "aistplus", "low", True, "precomputed")
    nov = _result_dir(tmp_path / "nov", "aistplus", "high", True, "none")
    write_report([low, nov], tmp_path / "report")
    table1 = pd.read_csv(tmp_path / "report" / "table1_aistpp.csv", dtype=str, keep_default_na=False)
    table1 = table1.set_index("Method")
    assert table1.loc["D2M-GAN low", "Cover (ours)"] == "75.0" and table1.loc["D2M-GAN low", "Hit (ours)"] == "75.0"
    assert table1.loc["D2M-GAN low", "Genre (ours)"] == "not evaluated"
    assert table1.loc["D2M-GAN high w/o V (Table 4)", "Cover (paper)"] == "87.1"
    assert table1.loc["D2M-GAN high", "Cover (ours)"] == "not run"
    assert "D2M-GAN low w/o M (Table 4)" not in table1.index  # Table 4 rows only when run
    assert table1.loc["GT", "Coherence MOS (paper)"] == "4.6" and table1.loc["CMT", "Cover (ours)"] == "–"
    differed = table1.loc["D2M-GAN low", "What differed"]
    assert "visual:" not in differed and "data:" not in differed  # official lists, I3D arrays, 86 segments
    assert "codebook: external JukeBox-layout file (5b shape) vqvae.pth.tar" in differed
    assert "training: 10 steps of config aist_low (paper: 1245000)" in differed
    with pytest.raises(ValueError, match="both hold aistplus low full"):
        write_report([low, low], tmp_path / "again")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds neither beats.json nor genre.json"):
        write_report([tmp_path / "empty"], tmp_path / "again")
    bare = tmp_path / "bare"
    write_beats_result(BeatsScore((PairScore("r", "g", 1, 1, 1),)), bare, bare, bare, None)
    with pytest.raises(ValueError, match=r"bare/beats\.json records no generation"):
        read_result(bare)
    # A VGGish genre result is named in the row as well (every number says which embedder made it).
    genre = {**json.loads((nov / "beats.json").read_text()), "metric": "genre", "label": "genre", "correct": 3,
             "total": 4, "accuracy": 0.75, "embedder": "vggish (vggish-10086976.pth, sha256 0123456789ab)"}
    (nov / "genre.json").write_text(json.dumps(genre))
    write_report([nov], tmp_path / "vggish")
    table1 = pd.read_csv(tmp_path / "vggish" / "table1_aistpp.csv", dtype=str, keep_default_na=False)
    row = table1.set_index("Method").loc["D2M-GAN high w/o V (Table 4)"]
    assert row["Genre (ours)"] == "75.0 (3/4)" and row["Genre (paper)"] == "16.3"
    assert "genre embedder: vggish (vggish-10086976.pth, sha256 0123456789ab);" in row["What differed"]
    mixed = json.loads((low / "beats.json").read_text())
    mixed["metric"], mixed["generation"]["step"] = "genre", 11
    (low / "genre.json").write_text(json.dumps(mixed))
    with pytest.raises(ValueError, match="come from different generations"):
        read_result(low)
    result = CliRunner().invoke(cli, ["report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "holds neither" in result.output


def test_a_full_run_is_judged_in_epochs_whatever_the_loader_batches_per_epoch():
    """The paper's AIST++ run is 3000 epochs; the release's loader makes 415 batches an epoch, ours 414 (it drops the
    last partial batch): 3000 x 414 steps is a full run, not flagged; fewer epochs are."""
    from d2m_train.report import Result, differences

    base = {"dataset": "aistplus", "level": "low", "inputs": {"motion": True, "visual": "precomputed", "genre": False},
            "split": "test", "segments": 86, "data_source": {"kind": "official_lists"}, "config_name": "aist_low",
            "vqvae": {"origin": "x", "name": "y"}, "paper_steps": 3000 * 415, "paper_epochs": 3000,
            "batches_per_epoch": 414}
    full = differences(Result(None, base | {"step": 3000 * 414, "epochs": 3000.0}, None, None))
    assert not [note for note in full if note.startswith("training")]
    short = differences(Result(None, base | {"step": 1000 * 414, "epochs": 1000.0}, None, None))
    assert "training: 1000 epochs (414000 steps) of config aist_low (paper: 3000 epochs)" in short
    older = differences(Result(None, {k: v for k, v in base.items() if k != "batches_per_epoch"} | {"step": 10}, None,
                               None))  # a generation.json without epochs: judged in steps, as before
    assert "training: 10 steps of config aist_low (paper: 1245000)" in older
