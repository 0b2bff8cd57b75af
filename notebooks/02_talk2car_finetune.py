# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters", "remove-cell"]
profile = "smoke"  # "full": the Talk2Car release, chapter 01's full-profile encoder, on a GPU
seed = 0
data_root = None  # Talk2Car root (commands/, images/); None → synthetic (smoke)
mode = "all"  # "all": chapter 01 first if no run exists · "train": needs chapter 01's run · "test": inference only
distilled = None  # folder of chapter 01's student; None → the newest chapter-01 run
grounding_checkpoint = None  # mode "test": folder of a trained grounding model; None → newest run
encoder_variant = None  # "multiscale" (stride-16 map) or "single" (stride 32)
head = None  # "transformer" or "projection"
text_encoder = None  # "teacher" (CLIP text tower of chapter 01) or "minilm"
epochs = None
finetune_encoder = None  # after `epochs` on the frozen encoder, train end to end (full: True)
finetune_epochs = None
compare = None  # train the comparison models (other head, text encoder, encoder inits, frozen vs fine-tuned)
visualize = True
generate_predictions = True
device = None  # "cuda", "cuda:1", "mps", "cpu"; None → CUDA, then MPS, then CPU
resume = None  # folder of an interrupted run (results/talk2car/<run>): training continues from its checkpoints
rehearse = False  # with profile "full": its configuration on this CPU, random weights, a few real-size synthetic samples

# %% tags=["remove-cell"]
import os
import subprocess
import sys

if "google.colab" in sys.modules:  # Colab only: a conda environment with the pinned GPU stack
    checkout = os.environ.get("MMDL_CHECKOUT", "/content/mmdl")
    if not os.path.isdir(checkout):
        repo = os.environ.get("MMDL_REPO") or sys.exit("set os.environ['MMDL_REPO'] to the book's git URL first")
        subprocess.run(["git", "clone", "--depth", "1", repo, checkout], check=True)
    kernel_python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    subprocess.run(["bash", f"{checkout}/scripts/colab_bootstrap.sh", "--kernel-python", kernel_python], check=True)
    sys.path[:0] = open(f"{checkout}/.colab_site_packages").read().split()

# %% [markdown]
# # 02 · Talk2Car: from a command to a box
#
# "Pull over behind the blue truck on the right": to obey, the car must find *which* object the
# command refers to among many look-alikes, and where it is. Talk2Car pairs such commands with
# the box of the referred object. This chapter builds on chapter 01's distilled ConvNeXt: we keep
# its **H×W feature maps** (no pooling, so *where* survives), encode the command with a frozen
# text encoder, and let the command **query** the image through a transformer decoder whose keys
# and values are the feature tokens with 2D positional encodings. The decoded query scores every
# token (*which* object) and every token regresses a box around itself (*where exactly*); the
# answer is the box of the best-scoring token, as a detector answers with its top detection.
#
# Training minimises L1 + GIoU on the box (seed 000, stage 2). Two dense terms are added so that a
# few thousand commands go further (this run does not ablate them): a cross-entropy that asks the scores to fall on the tokens inside the
# ground-truth box, and the same L1 + GIoU on those tokens' own boxes.
#
# Which map? Chapter 01 trained the student through *global pooling* only, so its fused
# projection is free to forget where things are; the backbone's stages 2–4 (strides 8, 16, 32)
# carry the distilled semantics *and* their place. We resample them onto the stride-16 grid and
# concatenate them (`forward_pyramid`); the encoder stays frozen, so each image's map is computed
# once and cached.

# %% tags=["hide-input"]
from mmdl_lib.env import environment_report

print(environment_report())

# %%
from mmdl_lib.viz.diagram import pipeline

pipeline(["camera image", "distilled ConvNeXt\nstages 2–4 → H/16×W/16\n(frozen)", "command → frozen\ntext encoder",
          "transformer\n(text queries tokens)", "token scores +\nper-token boxes", "best token's box\nL1 + GIoU"],
         title="Stage 2: ground a command in the image", highlight={3});

# %% [markdown]
# ## Data, encoder and text encoders
#
# `Talk2CarDataset` reads `commands/{split}_commands.json` and the images named by `t2c_img`
# (real release or synthetic), normalising `2d_box` by each image's size. We keep the official
# validation split for the reported numbers and hold out 10 % of the training images for model
# choice. The smoke world writes four commands per image (each about a different object).

# %%
import pandas as pd
import torch

from mmdl_lib.book.artefacts import find_or_train_distilled, latest_grounding
from mmdl_lib.chapters.talk2car.model import load_grounding
from mmdl_lib.models.student import load_student
from mmdl_lib.models.teacher import CLIPTeacher
from mmdl_lib.paths import display_path
from mmdl_lib.records import Run
from mmdl_lib.runtime import select_device, seed_everything
from mmdl_lib.chapters.talk2car import pipeline as talk2car

cfg = talk2car.Talk2CarConfig.from_parameters(globals())  # every parameter above, by name
torch_device = select_device(cfg.device)
seed_everything(cfg.seed)
run = Run.start("talk2car", cfg.profile, cfg.seed, resume=cfg.resume)
splits = talk2car.load_splits(cfg, talk2car.resolve_talk2car_root(cfg))
if cfg.mode == "test":
    model, grounding_meta = load_grounding(latest_grounding(cfg))
    encoder_folder = grounding_meta["encoder"]
else:
    encoder_folder = find_or_train_distilled(cfg, chapter01_output=run.folder / "chapter01.ipynb")
encoder, encoder_meta = load_student(encoder_folder)
if cfg.mode == "test":
    encoder = model.encoder  # the grounding model's own: fine-tuned when it was trained end to end
teacher = CLIPTeacher.from_info(encoder_meta["teacher"]).to(torch_device)
print(f"train {len(splits.train)} commands on {len(splits.train.images)} images "
      f"({len(splits.train_idx)} for training, {len(splits.holdout_idx)} held out) · val {len(splits.val)} · "
      f"test {len(splits.test) if splits.test else 0}")
print(f"encoder: {display_path(encoder_folder)}")
pd.DataFrame([{"command": c.command, "2d_box (normalised)": [round(v, 3) for v in c.box]}
              for c in splits.train.items[:5]])

# %%
from mmdl_lib.models.text import build_text_encoder

encoders_of_text = {"teacher": build_text_encoder("teacher", teacher)}
if cfg.text_encoder == "minilm" or (cfg.compare and cfg.mode != "test"):
    encoders_of_text["minilm"] = build_text_encoder("minilm", device=str(torch_device))
texts = {kind: {split: enc.encode(getattr(splits, split).commands)
                for split in ("train", "val", "test") if getattr(splits, split) is not None}
         for kind, enc in encoders_of_text.items()}
features = {split: talk2car.extract_features(encoder, getattr(splits, split), torch_device)
            for split in ("train", "val", "test") if getattr(splits, split) is not None}
main_features = features  # the main model's maps: recomputed below if its encoder is fine-tuned
print({kind: enc.name for kind, enc in encoders_of_text.items()}, "· feature map", tuple(features["val"].shape[1:]))

# %% [markdown]
# ## Trivial baselines, then training
#
# A model that has learned nothing can still score: the **centre prior** predicts the mean
# training box for every command; **largest object** picks the biggest visible object (its
# candidates come from the synthetic world's object list). Both are the floor a trained model
# has to clear; the verdicts under the table say whether it does.

# %%
from mmdl_lib.metrics.boxes import grounding_metrics
from mmdl_lib.chapters.talk2car.model import predict
from mmdl_lib.chapters.talk2car.baselines import baseline_predictions
from mmdl_lib.chapters.talk2car.comparisons import per_command_iou
from mmdl_lib.viz.curves import plot_history

baseline_boxes = baseline_predictions(splits)
results = {name: grounding_metrics(pred, splits.val.boxes) for name, pred in baseline_boxes.items()}
val_iou = {name: per_command_iou(pred, splits.val.boxes) for name, pred in baseline_boxes.items()}
histories = {}
if cfg.mode != "test":
    model, histories["transformer head"] = talk2car.train_grounding(
        cfg, encoder, features, texts[cfg.text_encoder], splits, torch_device,
        checkpoint_dir=run.folder / "checkpoints" / "main", desc="main")
    plot_history(histories, ["loss_total", "holdout_ap50", "val_ap50"]);
main_name = f"{cfg.head} head · {cfg.text_encoder} text · distilled encoder"
val_pred = predict(model, features["val"], splits.val.image_index, texts[cfg.text_encoder]["val"], torch_device)
results[main_name] = grounding_metrics(val_pred, splits.val.boxes)
val_iou[main_name] = per_command_iou(val_pred, splits.val.boxes)
frozen_name = main_name  # the distilled, frozen encoder's model: the reference of every comparison below
pd.DataFrame(results).T.round(3)

# %% [markdown]
# The model and the baselines answer the same validation commands, so each gap gets a 95 %
# interval from a **paired bootstrap over the commands** (2000 resamples): AP50 from each
# command's hit (IoU > 0.5), mean IoU from each command's IoU. The verdicts are computed from
# those intervals.

# %%
from IPython.display import Markdown
from mmdl_lib.chapters.talk2car.comparisons import compare_grounding, shortfall
from mmdl_lib.viz.comparisons import show_comparisons

comparisons = compare_grounding(val_iou, frozen_name, list(baseline_boxes), seed=cfg.seed)
display(show_comparisons(comparisons))
if shortfall(comparisons, frozen_name):
    display(Markdown("\n\n".join(shortfall(comparisons, frozen_name))))

# %% [markdown]
# ## Frozen or fine-tuned encoder
#
# So far the encoder has stayed frozen, which is what made training cheap: each image's map was
# computed once. The seed's stage 2 is a *fine-tune*, though, and chapter 01 never showed the
# encoder a box. Here the model above trains `finetune_epochs` more epochs **end to end**: every
# step sends the images through the encoder, which learns at a tenth of the head's rate
# (`encoder_lr_mult`) so that a few thousand commands do not wash out what distillation put there
# (first the head on frozen features, then everything: "linear probe, then fine-tune"). The
# control trains the head alone for the same epochs, data and rate, so the two arms differ only
# in whether the encoder learns. Under the table the two arms are compared, paired over the val
# commands; that computed verdict, not the gap between two rows of one seed, is what the run says
# about unfreezing. The full profile fine-tunes by default (`finetune_encoder`); in smoke the main
# model stays the frozen one.

# %%
finetune_results, finetuned, finetune_boxes = {}, {}, {}
frozen_model = model
if cfg.mode != "test" and (cfg.compare or cfg.finetune_encoder):
    finetune_results["frozen encoder (the model above)"] = results[main_name]
    tuned_results, finetuned, finetune_histories, finetune_boxes = talk2car.compare_finetuning(
        cfg, model, features, texts[cfg.text_encoder], splits, torch_device, run.folder / "checkpoints")
    finetune_results.update(tuned_results)
    val_iou.update({name: per_command_iou(pred, splits.val.boxes) for name, pred in finetune_boxes.items()})
    plot_history(finetune_histories, ["loss_total", "val_ap50"]);
if cfg.finetune_encoder and cfg.mode != "test":  # the fine-tuned model becomes the chapter's model
    model = finetuned["end to end, encoder fine-tuned"]
    main_name = f"{cfg.head} head · {cfg.text_encoder} text · fine-tuned encoder"
    main_features = {split: talk2car.extract_features(model.encoder, getattr(splits, split), torch_device)
                     for split in ("train", "val", "test") if getattr(splits, split) is not None}
    val_pred = predict(model, main_features["val"], splits.val.image_index, texts[cfg.text_encoder]["val"],
                       torch_device)
    results[main_name] = grounding_metrics(val_pred, splits.val.boxes)
pd.DataFrame(finetune_results).T.round(3) if finetune_results else None

# %%
from mmdl_lib.chapters.talk2car.comparisons import finetune_reason, relative_weight_change

finetune_comparisons = {}
if set(finetune_boxes) == set(talk2car.FINETUNE_ARMS):
    finetune_comparisons = compare_grounding(val_iou, "end to end, encoder fine-tuned", ["head only, encoder frozen"],
                                             seed=cfg.seed)
    comparisons.update(finetune_comparisons)
    moved = relative_weight_change(frozen_model.encoder, finetuned["end to end, encoder fine-tuned"].encoder)
    full = talk2car.Talk2CarConfig.from_profile("full")
    reason = finetune_reason(moved, cfg.finetune_epochs, cfg.finetune_lr * cfg.encoder_lr_mult, full.finetune_epochs)
    lines = shortfall(finetune_comparisons, "end to end, encoder fine-tuned", {"head only, encoder frozen": reason})
    display(show_comparisons(finetune_comparisons))
    display(Markdown("\n\n".join(lines) if lines else
                     f"Unfreezing the encoder beats the head-only control on every metric compared "
                     f"(the encoder's weights moved by {moved:.2%} of their norm)."))

# %% [markdown]
# ## One change at a time
#
# Same data, epochs and seed; one change at a time: the projection head (pooled image + text →
# MLP), the MiniLM sentence encoder instead of the CLIP teacher's text tower, and the encoder's
# initialisation — chapter 01's distillation, ImageNet-style pre-training (the synthetic
# ImageNet folder in smoke, timm's ImageNet weights in full), or random. Under the table the
# chapter's model (distilled encoder, transformer head, teacher text) is compared with each
# variant, paired over the val commands; where it does not win, the computed sentence says so
# and what the run measures about why.

# %%
from mmdl_lib.models.student import random_init

if cfg.compare and cfg.mode != "test":
    variants = {
        "projection head": dict(head="projection"),
        "minilm text": dict(text="minilm"),
        "ImageNet-style encoder": dict(encoder=talk2car.imagenet_style_encoder(cfg, encoder.config, torch_device)),
        "random encoder": dict(encoder=random_init(encoder.config, seed=cfg.seed)),
    }
    for name, change in variants.items():
        enc = change.get("encoder", encoder)
        feats = features if enc is encoder else {s: talk2car.extract_features(enc, getattr(splits, s), torch_device)
                                                 for s in ("train", "val")}
        text_kind = change.get("text", cfg.text_encoder)
        variant_model, histories[name] = talk2car.train_grounding(
            cfg, enc, feats, texts[text_kind], splits, torch_device, head=change.get("head"),
            checkpoint_dir=run.folder / "checkpoints" / name.replace(" ", "_"), desc=name)
        pred = predict(variant_model, feats["val"], splits.val.image_index, texts[text_kind]["val"], torch_device)
        results[name] = grounding_metrics(pred, splits.val.boxes)
        val_iou[name] = per_command_iou(pred, splits.val.boxes)
    plot_history(histories, ["holdout_ap50", "val_ap50"]);
comparison = pd.DataFrame(results).T
comparison.round(3)

# %%
from mmdl_lib.chapters.talk2car.comparisons import mean_pairwise_cosine, text_encoder_reason

variant_comparisons = {}
if cfg.compare and cfg.mode != "test":
    variant_comparisons = compare_grounding(val_iou, frozen_name, list(variants), seed=cfg.seed)
    comparisons.update(variant_comparisons)
    closeness = {kind: mean_pairwise_cosine(texts[kind]["val"]) for kind in texts}
    reasons = ({"minilm text": text_encoder_reason(closeness, encoder_meta["teacher"].get("pretrained"),
                                                   cfg.profile == "smoke")} if "minilm" in closeness else {})
    lines = shortfall(variant_comparisons, frozen_name, reasons)
    display(show_comparisons(variant_comparisons))
    display(Markdown("\n\n".join(lines) if lines else f"{frozen_name} beats every variant on AP50 and mean IoU."))

# %% [markdown]
# ## Successes and failures
#
# Green: the ground truth; red: the prediction, with the command above. Then *where the head
# looks*: its softmax over the tokens as a heat map, for two successes and four failures. A wrong
# box under a peak on another object is a *which* error (the command was misread); a box near the
# peak that misses the object is a *where exactly* error.

# %%
from mmdl_lib.metrics.boxes import pairwise_iou
from mmdl_lib.chapters.talk2car.model import token_scores
from mmdl_lib.chapters.talk2car.figures import plot_predictions, show_token_scores

iou = pairwise_iou(val_pred, splits.val.boxes)
order = torch.argsort(iou, descending=True).tolist()
figures = run.folder / "visualizations"
if cfg.visualize:
    plot_predictions(splits.val, val_pred, order[:3], figures, "successes");
    plot_predictions(splits.val, val_pred, order[-3:], figures, "failures");
if cfg.visualize and cfg.head == "transformer":
    shown = order[:2] + order[-4:]
    scores = token_scores(model, main_features["val"], splits.val.image_index[shown],
                          texts[cfg.text_encoder]["val"][shown], torch_device)
    show_token_scores(scores, splits.val, val_pred, shown, figures);

# %% [markdown]
# ## Cost: latency per command and size
#
# Encoder + head on one image (batch 1), against chapter 01's full-profile teacher tower (ViT-B/16)
# with the same kind of head at 224×224 — the cost of grounding on top of an un-distilled CLIP.

# %%
from mmdl_lib.metrics.cost import cost_per_command

text_dim = texts[cfg.text_encoder]["val"].shape[1]
cost = {"ours": cost_per_command(model, text_dim, (cfg.image_width, cfg.image_height), torch_device,
                                 repeats=2 * cfg.latency_repeats),
        "ViT-B/16 + head": talk2car.vit_b_alternative(cfg, text_dim, torch_device)}
pd.DataFrame(cost).T.round(3)

# %% [markdown]
# ## Deployment: the grounding model as ONNX
#
# Encoder and head go into one graph (image and command embedding in, box out, dynamic batch).
# onnxruntime must reproduce PyTorch's boxes on validation images and commands (cosine ≥ 0.999
# for every command); then the runtimes are timed at batch 1 and 32 (`latency_batches`). The
# command embedding comes from the text encoder, which runs once per command, not per frame.

# %%
onnx_report = talk2car.export_grounding(model, splits.val, texts[cfg.text_encoder]["val"], run.folder / "onnx",
                                       cfg.latency_batches, cfg.latency_repeats)
print(f"grounding.onnx: {onnx_report['file_MB']:.1f} MB · parity on {onnx_report['parity']['rows']} commands: "
      f"lowest cosine {onnx_report['parity']['min_cosine']:.6f}, largest difference "
      f"{onnx_report['parity']['max_abs_diff']:.2e}")
pd.DataFrame(onnx_report["latency_ms_per_command_cpu"]).T.round(3)

# %% [markdown]
# ## `predictions.json` and the run record
#
# Predictions for the validation and test splits in the official format,
# `{command_token: [x0, y0, w, h]}` in the original image's pixels. Reading them back with the
# loader's convention reproduces the boxes. The public `test_commands.json` carries the boxes, as
# the synthetic one does: then the test split is scored too, once, with the model chosen above.

# %%
from mmdl_lib.data.talk2car import read_predictions, write_predictions
from mmdl_lib.chapters.talk2car.model import save_grounding

artifacts = {"grounding": str(save_grounding(run.folder / "grounding", model, cfg.to_dict(), encoder_folder, text_dim)),
             "grounding_onnx": onnx_report["path"]}
test_results = None  # the test split's metrics, when it has boxes
if cfg.generate_predictions:
    for split in ("val", "test"):
        dataset = getattr(splits, split)
        if dataset is None:
            continue
        pred = predict(model, main_features[split], dataset.image_index, texts[cfg.text_encoder][split],
                       torch_device)
        path = write_predictions(run.folder / f"predictions_{split}.json", dataset, pred)
        back = read_predictions(path, dataset)
        assert torch.allclose(back, pred, atol=0.01), "predictions.json does not round-trip"
        artifacts[f"predictions_{split}"] = str(path)
        if split == "test" and dataset.has_boxes:
            test_results = {main_name: grounding_metrics(pred, dataset.boxes)}
best_baseline = max(v["ap50"] for k, v in results.items() if k in ("centre prior", "largest object"))
metrics = {"val": results, "test": test_results, "finetune": finetune_results or None, "cost": cost,
           "onnx": {k: v for k, v in onnx_report.items() if k != "path"},
           "best_trivial_ap50": best_baseline,
           "main_over_best_trivial_ap50": results[main_name]["ap50"] / max(best_baseline, 1e-9),
           "n_commands": talk2car.n_commands(splits),
           "comparisons": {key: c.to_dict() for key, c in comparisons.items()}}
record = run.record(metrics, config=cfg.to_dict(), artifacts=artifacts,
                    notes="synthetic Talk2Car, encoder from chapter 01's smoke run" if cfg.profile == "smoke" else None)
print(f"{main_name}: val AP50 {results[main_name]['ap50']:.3f} "
      f"({metrics['main_over_best_trivial_ap50']:.2f}× the best trivial baseline)"
      + (f" · test AP50 {test_results[main_name]['ap50']:.3f}" if test_results else ""))
print("run record:", display_path(record))

# %% [markdown]
# ## The full profile, and published numbers
#
# With the Talk2Car release under `/data/talk2car` and a full-profile chapter 01 run:
#
# ```bash
# mmdl run 02 --profile full -p data_root /data/talk2car
# # 800×450 inputs; 20 epochs on the frozen encoder's maps (computed once), batches of 32 images,
# # lr 1e-4, d_model 256, 2 encoder and 3 decoder layers; then 3 epochs end to end (head 5e-5,
# # encoder 5e-6); -p finetune_encoder false keeps the encoder frozen
# mmdl run 02 --profile full -p mode test -p data_root /data/talk2car   # predictions.json only
# ```
#
# Leaderboard AP50 on the real Talk2Car test set (**not** comparable with the synthetic numbers
# above): CMRT 69.1, Stacked VLBert 71.0, FA 73.51, CAVG 74.55.
