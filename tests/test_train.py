"""Training: config, resumable sampling, bad samples, and tiny end-to-end runs on the CPU."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

import pytest
import torch

from engine.uv_layout import load_uv_layout
from training.cli import eval_main, train_main
from training.datasets import (BadSample, CachedDataset, DatasetError, ResumableBatchSampler,
                               W300LPDataset, collate_skipping_bad, list_300wlp,
                               write_cached_sample)
from training.train import (ConfigError, TrainConfig, load_checkpoint, load_config, plan_schedule,
                            train)

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spin-waits make 2 threads ~5x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fake_face(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A cheap stand-in sample: the mean face under a random pose, splatted with the UV texture."""
    from PIL import Image

    from engine.assets import asset_path

    layout = load_uv_layout()
    rng = np.random.default_rng(seed)
    yaw = np.radians(rng.uniform(-60, 60))
    rotation = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    points = (layout.canonical_vertices - layout.canonical_vertices.mean(axis=0)) @ rotation.T
    points = points * rng.uniform(0.45, 0.6) + np.array([*rng.uniform(118, 138, 2), 60.0])
    flat = np.zeros((256 * 256, 3), np.float32)
    flat[layout.face_indices] = points
    texture = np.asarray(Image.open(asset_path("prnet/uv-data/uv_face.png")).convert("RGB"))
    colours = texture.reshape(-1, 3)[layout.face_indices]
    image = np.full((256, 256, 3), rng.integers(0, 256, 3), np.uint8)
    order = np.argsort(points[:, 2])
    xy = np.clip(np.rint(points[order, :2]).astype(int), 0, 255)
    image[xy[:, 1], xy[:, 0]] = colours[order]
    return image, flat.reshape(256, 256, 3)


def make_fake_cache(folder: Path, count: int) -> Path:
    for index in range(count):
        image, position_map = fake_face(index)
        write_cached_sample(folder, index, image, position_map, image_format="png")
    return folder


def tiny_config(tmp_path: Path, **changes) -> TrainConfig:
    config = load_config(CONFIGS / "tiny.json").with_overrides(
        **{"output_dir": str(tmp_path / "run"), "train.log_every": 1, **changes})
    return config


# ----------------------------------------------------------------------------- config

def test_shipped_configs_load():
    tiny = load_config(CONFIGS / "tiny.json")
    assert tiny.model_config.base_width <= 4 and tiny.train.device == "cpu"
    default = load_config(CONFIGS / "default.json")
    assert default.model_config.base_width == 16 and default.train.batch_size == 16
    assert default.train.lr == 1e-4 and default.train.lr_step_epochs == 5
    assert default.train.lr_gamma == 0.5 and default.data.source == "300wlp"
    assert load_config("tiny") == tiny  # shipped configs are found by name
    synthetic = load_config(CONFIGS / "synthetic.json")
    assert synthetic.train.steps_per_epoch and synthetic.data.source == "synthetic"


def test_the_shipped_recipe_chains_its_stages_and_matches_the_default_weights():
    """training/retrain_default.sh: every stage trains from the export of the one before, back to
    the selection's winner, and the shipped weights are the export of one of those stages."""
    from engine.reconstructor import DEFAULT_WEIGHTS
    from engine.weights import load_weights

    script = (CONFIGS.parent / "retrain_default.sh").read_text()
    scripts = script + (CONFIGS.parent / "select_model.sh").read_text()
    by_output = {Path(config.output_dir): config for config in map(
        load_config, [*CONFIGS.glob("*.json"), *CONFIGS.glob("selection/*.json")])}
    shipped = re.search(r"^cp (\S+)/weights\.safetensors (\S+)$", script, re.MULTILINE)
    assert shipped and shipped.group(2) == str(DEFAULT_WEIGHTS.relative_to(CONFIGS.parents[1]))
    final = by_output[Path(shipped.group(1))]
    stages = [final]
    while stages[-1].train.init_weights:
        parent = Path(stages[-1].train.init_weights)
        assert parent.name == "weights.safetensors" and parent.parent in by_output
        stages.append(by_output[parent.parent])
    winner = stages[-1]
    assert Path(winner.output_dir).parent.name == "select" and len(stages) >= 3
    assert Path(winner.output_dir).name in script
    for stage in stages:
        assert stage.model_config == final.model_config
        folders = [stage.data.path] if isinstance(stage.data.path, str) else stage.data.path
        for folder in folders:
            assert f"--make-cache {folder} " in scripts
    for stage in stages[:-1]:
        assert f"{Path(stage.output_dir).name}.json" in script or Path(stage.output_dir).name in script
    info = load_weights(DEFAULT_WEIGHTS)[1]
    assert info.config == final.model_config
    chain, runs = info.provenance, []
    while chain:  # an init from a weights file nests that file's provenance, with its own init
        chain = chain.get("provenance", chain)
        runs.append(chain.get("run"))
        chain = chain.get("init")
    names = [stage.name for stage in stages]
    assert runs in [names[k:] for k in range(len(names))]


def test_bad_configs_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({"trian": {}})
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({"train": {"batchsize": 3}})
    with pytest.raises(ConfigError, match="data.source"):
        TrainConfig.from_dict({"data": {"source": "imagenet"}, "train": {"steps": 1}})
    with pytest.raises(ConfigError, match="needs data.path"):
        TrainConfig.from_dict({"data": {"source": "300wlp"}})
    with pytest.raises(ConfigError, match="model"):
        TrainConfig.from_dict({"model": {"depth": 3}})
    with pytest.raises(ConfigError, match="laplacian_weight"):
        TrainConfig.from_dict({"loss": {"laplacian_weight": -0.5}, "train": {"steps": 1}}).validate()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    (tmp_path / "empty").mkdir()
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"data": {"source": "300wlp", "path": str(tmp_path / "empty")},
                                 "output_dir": str(tmp_path / "run")}))
    for argv in ([str(bad)], [str(tmp_path / "missing.json")], [str(empty)]):
        assert train_main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_schedule_epochs_and_steps():
    config = TrainConfig.from_dict({"data": {"num_samples": 10}, "train": {"batch_size": 4, "epochs": 3}})
    assert plan_schedule(config, 10, 1).steps_per_epoch == 3      # ceil(10 / 4)
    assert plan_schedule(config, 10, 1).total_steps == 9
    assert plan_schedule(config, 10, 2).steps_per_epoch == 2      # 5 per rank
    config = TrainConfig.from_dict({"train": {"steps": 50, "steps_per_epoch": 7}})
    assert plan_schedule(config, None, 1) == plan_schedule(config, None, 1)
    assert plan_schedule(config, None, 1).steps_per_epoch == 7
    assert plan_schedule(config, None, 1).dataset_size == 50 * 16


# ----------------------------------------------------------------------------- sampling

def test_sampler_is_resumable_and_splits_ranks():
    full = list(ResumableBatchSampler(10, 4, 9, seed=3))
    resumed = list(ResumableBatchSampler(10, 4, 9, seed=3, start_batch=5))
    assert resumed == full[5:]
    flat = [index for batch in full for index, _ in batch]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert flat[:10] != flat[10:20]                        # a new permutation every pass
    seeds = [seed for batch in full for _, seed in batch]
    assert len(set(seeds)) == len(seeds)                   # every visit augmented differently
    ranks = [ResumableBatchSampler(10, 5, 1, seed=3, rank=r, world_size=2).keys(0) for r in (0, 1)]
    assert sorted(i for keys in ranks for i, _ in keys) == list(range(10))


def test_bad_samples_are_skipped_and_counted(tmp_path):
    cache = make_fake_cache(tmp_path / "cache", 8)
    (cache / "00000002.npz").write_bytes(b"garbage")                 # corrupt
    (cache / "00000005.png").unlink()                                 # image missing
    dataset = CachedDataset(cache)
    batch = collate_skipping_bad([dataset[(i, None)] for i in range(8)])
    assert batch["image"].shape == (6, 3, 256, 256) and batch["image"].dtype == torch.float32
    assert 0 <= batch["image"].min() and batch["image"].max() <= 1
    assert sorted(index for index, _ in batch["skipped"]) == [2, 5]

    config = tiny_config(tmp_path, **{"data.source": "synthetic_cache", "data.path": str(cache),
                                      "train.steps": 2, "augment.enabled": False})
    result = train(config, progress=False, export=False)
    assert result.steps == 2 and result.skipped == 2 and result.samples == 6  # one pass over 8
    log_text = (result.output_dir / "train.log").read_text()
    assert "2 bad sample(s) skipped" in log_text
    assert "skipped bad sample 2" in log_text and "00000002.npz" in log_text
    rows = list(csv.DictReader(open(result.output_dir / "log.csv")))
    assert int(rows[-1]["skipped"]) == 2


def test_a_folder_of_bad_samples_stops_with_a_clear_error(tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    for index in range(24):
        (cache / f"{index:08d}.npz").write_bytes(b"bad")
    config = tiny_config(tmp_path, **{"data.source": "synthetic_cache", "data.path": str(cache),
                                      "train.steps": 8})
    with pytest.raises(DatasetError, match="failed to load"):
        train(config, progress=False, export=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no .npz samples"):
        CachedDataset(empty)


def test_300wlp_folder_layout(tmp_path):
    root = tmp_path / "300W_LP"
    for sub in ("AFW", "HELEN_Flip", "landmarks/AFW"):
        (root / sub).mkdir(parents=True)
    (root / "AFW" / "AFW_1_0.jpg").write_bytes(b"not a jpeg")
    (root / "AFW" / "AFW_1_0.mat").write_bytes(b"not a mat")
    (root / "HELEN_Flip" / "HELEN_2_0.jpg").write_bytes(b"not a jpeg")   # no .mat
    (root / "landmarks" / "AFW" / "AFW_1_0_pts.mat").write_bytes(b"")
    assert [p.name for p in list_300wlp(root)] == ["AFW_1_0.jpg", "HELEN_2_0.jpg"]
    assert list_300wlp(root, ["AFW"]) == [root / "AFW" / "AFW_1_0.jpg"]
    with pytest.raises(DatasetError, match="not found"):
        list_300wlp(root, ["IBUG"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        list_300wlp(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        list_300wlp(tmp_path / "missing")
    pytest.importorskip("training.groundtruth")
    missing = W300LPDataset(root)[(1, None)]   # (a corrupt .mat needs the BFM loaded: slow)
    assert isinstance(missing, BadSample) and "no annotation" in missing.reason


# ----------------------------------------------------------------------------- end to end

def _state(path: Path) -> dict:
    return load_checkpoint(path)["model"]


def test_resume_continues_exactly(tmp_path):
    cache = make_fake_cache(tmp_path / "cache", 6)
    # 4 steps of 2 over 6 samples (a second pass starts), epochs of 2 steps, stop mid-epoch.
    common = {"data.source": "synthetic_cache", "data.path": str(cache), "train.steps": 4,
              "train.batch_size": 2, "train.steps_per_epoch": 2, "train.lr_step_epochs": 1}
    straight = train(tiny_config(tmp_path / "a", **common), progress=False, export=False)
    config = tiny_config(tmp_path / "b", **common)
    first = train(config, progress=False, stop_after=3)
    assert first.steps == 3 and first.weights is None
    with pytest.raises(Exception, match="--resume"):
        train(config, progress=False)
    second = train(config, resume=True, progress=False, export=False)
    assert second.steps == 4
    checkpoint = load_checkpoint(second.checkpoint)
    assert checkpoint["step"] == 4 and checkpoint["epoch"] == 2
    assert checkpoint["scheduler"]["last_epoch"] == 2                   # lr halved twice
    a, b = _state(straight.checkpoint), _state(second.checkpoint)
    assert all(torch.equal(a[name], b[name]) for name in a), "resumed run differs"
    assert straight.losses[3:] == second.losses                          # same batches, same losses
    steps = [int(row["step"]) for row in csv.DictReader(open(second.output_dir / "log.csv"))]
    assert steps == [1, 2, 3, 4]
    # prnet-eval also takes a training checkpoint
    from training.evaluate import load_predictor_model

    model = load_predictor_model(second.checkpoint, "cpu")
    loaded = model.state_dict()
    assert not model.training and all(torch.equal(loaded[n], b[n]) for n in b)


def test_tiny_training_end_to_end_on_synthetic_data(tmp_path, capsys):
    pytest.importorskip("training.synthetic")
    cache = tmp_path / "cache"
    assert train_main(["--make-cache", str(cache), "--count", "8", "--base-seed", "0",
                       "--no-progress"]) == 0
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["count"] == 8 and manifest["seeds"] == [0, 7]
    config = {"name": "e2e", "seed": 0, "output_dir": str(tmp_path / "run"),
              "model": {"base_width": 2},
              "data": {"source": "synthetic_cache", "path": str(cache)},
              "augment": {"enabled": True, "rotation_deg": 10, "occlusion_prob": 0.2},
              "train": {"batch_size": 2, "steps": 24, "steps_per_epoch": 8, "lr": 0.005, "lr_step_epochs": 2,
                        "device": "cpu", "checkpoint_every": 10, "log_every": 1}}
    config_path = tmp_path / "e2e.json"
    config_path.write_text(json.dumps(config))
    # First session stops at step 16 (as if killed), the second resumes and finishes.
    assert train_main([str(config_path), "--stop-after", "16", "--no-progress"]) == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 16
    assert train_main([str(config_path), "--resume", "--no-progress"]) == 0
    run = tmp_path / "run"
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 25))
    losses = np.array([float(r["loss"]) for r in rows])
    # The mean of the first 3 steps against the median of the last 8 (robust to the odd hard
    # batch); on real synthetic data the ratio is ~0.55-0.6, on a constant network 1.
    first, last = losses[:3].mean(), np.median(losses[-8:])
    assert last < 0.75 * first, f"loss did not fall: {first:.1f} -> {last:.1f}"
    assert float(rows[0]["lr"]) == 0.005 and float(rows[-1]["lr"]) == 0.0025  # StepLR at epoch 2
    assert (run / "loss_curve.png").stat().st_size > 1000
    assert "resumed from" in (run / "train.log").read_text()

    from engine.weights import load_model

    model = load_model(run / "weights.safetensors", device="cpu")
    provenance = model.weights_info.provenance
    assert provenance["steps"] == 24 and provenance["data"]["seeds"] == [0, 7]
    assert provenance["wall_time_s"] > 0 and "machine" in provenance
    capsys.readouterr()
    assert eval_main([str(run / "weights.safetensors"), "--synthetic", "2", "-o",
                      str(tmp_path / "eval"), "--device", "cpu", "--no-progress"]) == 0
    results = json.loads((tmp_path / "eval" / "synthetic" / "results.json").read_text())
    assert results["faces"] == 2 and results["seeds"][0] >= 1_000_000_000
    for metric in ("nme2d", "nme3d", "dense_nme", "reconstruction_nme"):
        assert np.isfinite(results["results"]["model"][metric]["mean"])
        assert np.isfinite(results["results"]["mean_face"][metric]["mean"])
    # Training seeds 0..7 recorded in the weights; evaluating on them is refused.
    assert eval_main([str(run / "weights.safetensors"), "--synthetic", "2", "--synthetic-seed", "6",
                      "-o", str(tmp_path / "eval2"), "--no-progress"]) == 1
    assert "overlap" in capsys.readouterr().err


def test_init_weights_starts_a_new_stage_from_earlier_weights(tmp_path):
    cache = make_fake_cache(tmp_path / "cache", 4)
    common = {"data.source": "synthetic_cache", "data.path": str(cache), "train.steps": 2,
              "train.batch_size": 2}
    first = train(tiny_config(tmp_path / "a", **common), progress=False)
    assert first.weights is not None
    stage = tiny_config(tmp_path / "b", **{**common, "train.init_weights": str(first.weights),
                                           "train.steps": 1, "train.lr": 1e-12})
    second = train(stage, progress=False, export=False)
    from engine.weights import load_weights

    exported, _ = load_weights(first.weights)
    continued = _state(second.checkpoint)
    # lr ~0: the weights are the ones it started from (BatchNorm statistics aside).
    assert all(torch.allclose(exported[n], continued[n], atol=1e-9)
               for n in exported if "running" not in n)
    fresh = _state(train(tiny_config(tmp_path / "d", **{**common, "train.steps": 1,
                                                       "train.lr": 1e-12}),
                         progress=False, export=False).checkpoint)
    assert not all(torch.allclose(exported[n], fresh[n], atol=1e-9) for n in exported)
    wrong = tiny_config(tmp_path / "c", **common, **{"train.init_weights": str(first.weights),
                                                    "model.base_width": 4})
    with pytest.raises(Exception, match="init_weights"):
        train(wrong, progress=False)


def test_staged_runs_record_the_whole_chain_in_the_weights(tmp_path):
    from engine.weights import load_weights

    cache = make_fake_cache(tmp_path / "cache", 4)
    common = {"data.source": "synthetic_cache", "data.path": str(cache), "train.steps": 1,
              "train.batch_size": 2}
    first = train(tiny_config(tmp_path / "a", name="stage-a", **common), progress=False)
    second = train(tiny_config(tmp_path / "b", name="stage-b", **common,
                               **{"train.init_weights": str(first.weights)}), progress=False)
    third = train(tiny_config(tmp_path / "c", name="stage-c", **common,
                              **{"train.init_weights": str(second.checkpoint)}), progress=False)
    provenance = load_weights(third.weights)[1].provenance
    assert provenance["run"] == "stage-c"
    assert provenance["init"]["run"] == "stage-b" and provenance["init"]["steps"] == 1
    assert provenance["init"]["init"]["provenance"]["run"] == "stage-a"
    assert "init" not in load_weights(first.weights)[1].provenance


def test_compact_network_trains_at_its_output_resolution(tmp_path):
    """A CompactFCN run: 256-pixel fake samples adapted to its 64 input / 16 output, cosine lr."""
    cache = make_fake_cache(tmp_path / "cache", 8)
    config = tiny_config(tmp_path, **{
        "model": {"architecture": "CompactFCN", "base_width": 2, "input_size": 64,
                  "output_size": 16, "min_decoder_width": 4},
        "data": {"source": "synthetic_cache", "path": str(cache)},
        "loss.read_texel_weight": 1.0, "loss.normalisation": "weights",
        "train.steps": 12, "train.lr_schedule": "cosine", "train.lr_min": 1e-5,
        "train.warmup_steps": 2, "train.batch_size": 4})
    result = train(config, progress=False)
    rows = list(csv.DictReader(open(result.output_dir / "log.csv")))
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] < lrs[2] and lrs[-1] < 0.2 * max(lrs)  # warm-up, then the cosine decay
    from engine.weights import load_model, read_weights_info

    info = read_weights_info(result.weights)
    assert info.architecture == "CompactFCN" and info.input_size == 64
    model = load_model(result.weights, device="cpu")
    with torch.no_grad():
        assert model.uv_map(torch.rand(1, 3, 64, 64)).shape == (1, 3, 256, 256)
    assert np.isfinite(result.final_loss)


def test_samples_are_adapted_to_the_network_sizes(tmp_path):
    cache = make_fake_cache(tmp_path / "cache", 2)
    full = CachedDataset(cache)[0]
    small = CachedDataset(cache, sizes=(128, 32))[0]
    assert small["image"].shape == (3, 128, 128) and small["position_map"].shape == (3, 32, 32)
    # positions follow the image: the crop's corners are pixel centres 0 and S-1
    scale = 127 / 255
    expected = torch.nn.functional.avg_pool2d(full["position_map"][None], 8)[0] * scale
    valid = small["coverage"] == 1.0
    assert valid.sum() > 100
    assert torch.allclose(small["position_map"][:, valid], expected[:, valid], atol=1e-3)


def test_cache_written_at_the_output_size(tmp_path):
    image, position_map = fake_face(0)
    valid = np.zeros((256, 256), bool)
    valid[:, :128] = True
    write_cached_sample(tmp_path, 0, image, position_map, image_format="png", map_size=64,
                        valid=valid)
    data = CachedDataset(tmp_path).read(0)
    assert data["position_map"].shape == (64, 64, 3)
    assert data["coverage"][0, 0] == 1.0 and data["coverage"][0, 40] == 0.0


def test_cache_of_several_folders(tmp_path):
    first = make_fake_cache(tmp_path / "a", 3)
    second = make_fake_cache(tmp_path / "b", 2)
    both = CachedDataset([first, second])
    assert len(both) == 5
    np.testing.assert_array_equal(both.read(3)["position_map"], CachedDataset(second).read(0)["position_map"])
    described = both.describe()
    assert [part["size"] for part in described["parts"]] == [3, 2]
    config = tiny_config(tmp_path, **{"data": {"source": "synthetic_cache",
                                                "path": [str(first), str(second)]},
                                      "train.steps": 2})
    assert train(config, progress=False).steps == 2


def test_a_checkpoint_exports_to_weights_mid_run(tmp_path):
    config = tiny_config(tmp_path, **{"train.steps": 6, "train.checkpoint_every": 3})
    train(config, progress=False, stop_after=3)
    out = tmp_path / "mid.safetensors"
    assert train_main(["--export-checkpoint", str(tmp_path / "run" / "checkpoint.pt"), str(out)]) == 0
    from engine.weights import load_model, read_weights_info

    info = read_weights_info(out)
    assert info.provenance["steps"] == 3 and info.provenance["finished"] is False
    assert info.provenance["planned_steps"] == 6
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["model"]
    model = load_model(out, device="cpu")
    for name, tensor in model.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.allclose(tensor, state[name].float())


def test_cpu_seconds_keep_the_children_that_have_ended():
    """A run's CPU figure counts data loader workers after they exit (the exported provenance is
    read once the last epoch's workers are gone)."""
    import subprocess
    import sys

    from training.train.run_log import process_tree_cpu_seconds

    before = process_tree_cpu_seconds()
    subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\n"
                    "while time.process_time() - t < 0.5: pass"], check=True)
    assert process_tree_cpu_seconds() - before >= 0.45


def test_init_mode_shrink_starts_a_lighter_network_from_a_wider_one(tmp_path, capsys):
    cache = make_fake_cache(tmp_path / "cache", 4)
    wide = {"architecture": "CompactFCN", "base_width": 4, "input_size": 64, "output_size": 16,
            "min_decoder_width": 4}
    lite = {**wide, "base_width": 2, "stem_stride": 2, "decoder_refine": False}
    common = {"data.source": "synthetic_cache", "data.path": str(cache), "train.steps": 1,
              "train.batch_size": 2, "loss.read_texel_weight": 1.0}
    first = train(tiny_config(tmp_path / "a", model=wide, **common), progress=False)
    shrunk = tiny_config(tmp_path / "b", model=lite, **{**common, "train.lr": 1e-12,
                                                        "train.init_weights": str(first.weights),
                                                        "train.init_mode": "shrink"})
    second = train(shrunk, progress=False)
    state = _state(second.checkpoint)
    from engine.weights import load_weights

    exported, _ = load_weights(first.weights)
    assert torch.allclose(state["stem.conv.weight"], exported["stem.conv.weight"][:2], atol=1e-9)
    with pytest.raises(Exception, match="init_weights"):  # exact mode still refuses another network
        train(tiny_config(tmp_path / "c", model=lite, **{**common,
                                                         "train.init_weights": str(first.weights)}),
              progress=False)
    with pytest.raises(ConfigError, match="init_mode"):
        tiny_config(tmp_path / "d", **{"train.init_mode": "guess"}).validate()
    # Back to refinement layers: they have no counterpart, start fresh, and the run log says so.
    refined = tiny_config(tmp_path / "e", model={**lite, "decoder_refine": True},
                          **{**common, "train.init_weights": str(second.weights),
                             "train.init_mode": "shrink"})
    log = (train(refined, progress=False, export=False).output_dir / "train.log").read_text()
    assert "start fresh" in log and "decoder.1.deconv.weight" in log
