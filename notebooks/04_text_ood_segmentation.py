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
profile = "smoke"  # "full": Cityscapes + an OOD benchmark with OpenCLIP ViT-B/16 on a GPU
seed = 0
data_root = None  # Cityscapes (leftImg8bit/, gtFine/); None → synthetic (smoke) or $MMDL_DATA/cityscapes
ood_root = None  # the OOD benchmark's folder; None → synthetic (smoke) or $MMDL_DATA/<layout's folder>
ood_layout = None  # "fishyscapes", "smiyc_anomaly", "smiyc_obstacle" or "road_anomaly"
model_config = None  # an mmseg config: the book's "tdos_cityscapes_full" / "tdos_cityscapes_smoke"
clip_name = None  # open_clip model; smoke: "chapter01-teacher"
clip_pretrained = None  # open_clip tag, e.g. "openai"
image_size = None  # [height, width] the model sees
n_ctx = None  # CoOp context tokens (the seed's context_length)
learnable_cls_num = None  # learnable negative prompts (the seed's default: 50)
concepts_per_band = None  # WordNet OOD concepts per distance band
ood_augmentation = None  # attention-feature perturbation (TDOS's OOD semantic augmentation)
augmentation_probability = None  # share of training images that get OOD regions
augmentation_object_fraction = None  # share of regions that are a whole object (else a blob on the road)
perturb_strength = None
perturb_layer = None
backbone_lr_mult = None  # 0: CLIP image tower frozen (the seed's default)
text_encoder_lr_mult = None  # 0: CLIP text encoder frozen
finetune = None  # the seed's --finetune: eval mode, decoder and prompts only (needs load_from)
load_from = None  # a trained TDOS checkpoint (safetensors)
epochs = None
batch_size = None
lr = None
device = None  # "cuda", "cpu"; None → CUDA, then MPS, then CPU
resume = None  # folder of an interrupted run (results/text_ood_segmentation/<run>): training continues
rehearse = False  # with profile "full": its configuration on this CPU, random weights, a few real-size synthetic images

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
# # 04 · Text-driven OOD segmentation (TDOS)
#
# A segmentation network trained on Cityscapes knows 19 classes. A mattress on the motorway, a
# fallen crate or a deer is none of them, and a softmax over 19 classes must still call it
# something: usually road. **Out-of-distribution (OOD) segmentation** asks for a second output, a
# per-pixel anomaly score, and is judged on benchmarks whose anomalies were never seen in training
# (Fishyscapes, SegmentMeIfYouCan, Road Anomaly).
#
# Seed 003 (TDOS, "Leveraging Text-Driven Semantic Variation for Robust OOD Segmentation") uses
# text for that second output. Its pieces, each built here as an mmsegmentation module:
#
# * a **CLIP image tower** as a frozen backbone, and a **Mask2Former** decoder (mmdet's pixel
#   decoder and masked-attention transformer decoder) whose classifier is **text**: each query is
#   projected into CLIP's joint space and scored against prompt embeddings from the frozen CLIP
#   text encoder;
# * **learnable prompts**: CoOp context tokens for the 19 classes, and `learnable_cls_num` = 50
#   learnable *negative* prompts, with **distance-based OOD prompts** from WordNet: concepts at a
#   controlled semantic distance from the 19 classes;
# * **OOD semantic augmentation**: no foreign objects are pasted in; the backbone's self-attention
#   features are perturbed inside random regions, which are labelled OOD;
# * a per-pixel **anomaly score** read from the OOD prompts, compared on the same model with the
#   classic scores: max softmax probability (MSP), max logit and entropy.

# %% tags=["hide-input"]
from mmdl_lib.env import environment_report

print(environment_report())

# %%
from mmdl_lib.viz.diagram import pipeline

pipeline(["image", "frozen CLIP ViT\n(attention perturbed\nin OOD regions)", "feature pyramid\n+ pixel decoder",
          "masked-attention decoder\nqueries", "text classifier:\nCoOp + negatives + WordNet", "class maps\n+ OOD share"],
         title="Seed 003: segment with text, and let text say what is not a class", highlight={4});

# %% [markdown]
# ## Configuration and data
#
# `full` reads Cityscapes (train ids from the official labelId → trainId table of
# cityscapesScripts) and one OOD benchmark in its released layout. `smoke` reads the synthetic
# world: street scenes in the Cityscapes layout, and a Fishyscapes-style set whose scenes hold
# objects of classes never seen in training (animals, debris, odd shapes) on the road, with a thin
# void band around each. SegmentMeIfYouCan keeps its test labels on its server: the book evaluates
# on its validation images. No CLIP weights can be downloaded in `smoke`, so both towers come from
# **chapter 01's locally trained CLIP teacher** (trained first if chapter 01 has not run).

# %%
import time

import numpy as np
import pandas as pd
import torch

from mmdl_lib.paths import display_path
from mmdl_lib.records import Run
from mmdl_lib.runtime import select_device, seed_everything
from mmdl_lib.chapters.text_ood_segmentation import pipeline as stage

cfg = stage.TextOODSegConfig.from_parameters(globals())  # every parameter above, by name
torch_device = select_device(cfg.device)
seed_everything(cfg.seed)
run = Run.start("text_ood_segmentation", cfg.profile, cfg.seed, resume=cfg.resume)
roots = stage.resolve_roots(cfg)
sets = stage.load_sets(cfg, roots)
clip = stage.get_clip(cfg)
print(f"device {torch_device} · CLIP {clip['name']} ({clip['pretrained'] or display_path(clip['weights'])}) · "
      f"images {cfg.image_size[0]}×{cfg.image_size[1]}")
print({name: len(s) for name, s in sets.items()}, "images (Cityscapes train / val, OOD)")

# %%
from mmdl_lib.viz.world import show_segmentation

show_segmentation(*roots);

# %% [markdown]
# ## Distance-based OOD prompts from WordNet
#
# Which words should stand for "not a Cityscapes class"? TDOS picks concepts by their **semantic
# distance** to the 19 classes in WordNet: the fewest hypernym edges from a concept and a class to
# a common ancestor (nltk's `shortest_path_distance`). Near concepts (3–5 edges) are almost a
# known class and sharpen the boundary; far ones (9–12) are unrelated and cover the rest. A
# concept is never a class in disguise: no hyponym (a sedan *is* a car), no hypernym (a vehicle
# includes cars), no namesake ("bus" the computer part), and nothing that Cityscapes' label
# definitions put in a class while WordNet files it elsewhere (`CITYSCAPES_DISGUISES`: a metro is
# seen as its trains and a tram is labelled "train"; a scooter "motorcycle", a lamppost "pole",
# trees "vegetation", grass "terrain"), nor their kinds and names. WordNet 3.0 comes from Debian's
# `wordnet-base` and `wordnet-sense-index` packages, read offline by nltk.

# %%
concepts = stage.pick_ood_concepts(cfg)
display(pd.DataFrame([{"band": band, "concept": c["name"], "synset": c["synset"], "distance": c["distance"],
                       "nearest class": c["nearest"]} for band, found in concepts.items() for c in found]))

# %% [markdown]
# ## The model, as an mmseg config
#
# Every module is registered in mmseg's registry (`mmdl_lib.chapters.text_ood_segmentation.model`), so the model is built
# from a config file like any mmseg model: the book's `tdos_cityscapes_*.py` inherit mmseg's own
# Mask2Former Cityscapes config and change only the backbone, the head's classifier and the sizes.
# Each query's class logits are `scale · cos(query, prompt)` for the 19 class prompts, one **OOD
# logit** (the log-sum-exp over every OOD prompt: 50 learnable negatives and the WordNet
# concepts), and Mask2Former's "no object". The CLIP towers are frozen (learning-rate multiplier
# 0, the seed's default); what learns is the feature pyramid, the decoder, the CoOp context and
# the negative prompts.

# %%
config = stage.model_config(cfg, clip, concepts)
model = stage.build_segmentor(cfg, config, torch_device)
parts = {"CLIP image tower": model.backbone.visual, "feature pyramid": model.backbone.pyramid,
         "pixel decoder": model.decode_head.pixel_decoder, "transformer decoder": model.decode_head.transformer_decoder,
         "CLIP text encoder": model.decode_head.text_classifier.transformer}
display(pd.DataFrame({name: {"parameters (M)": sum(p.numel() for p in m.parameters()) / 1e6,
                             "trained (M)": sum(p.numel() for p in m.parameters() if p.requires_grad) / 1e6}
                      for name, m in parts.items()}).T.round(3))
classifier = model.decode_head.text_classifier
print(f"prompts: {len(classifier.class_names)} classes · {classifier.learnable_cls_num} learnable negatives · "
      f"{len(classifier.ood_concepts)} WordNet concepts · {classifier.n_ctx} context tokens")

# %% [markdown]
# ## Training
#
# AdamW with a cosine schedule and module-wise learning-rate multipliers (mmengine's
# `paramwise_cfg`); Mask2Former's own losses: classification over the 19 classes + OOD + no
# object, and binary cross-entropy and Dice on sampled mask points, matched by the Hungarian
# assigner. Half of the training images get one or two OOD regions (below). Checkpoints go to the
# run folder each epoch; `resume` continues an interrupted run.

# %%
from mmdl_lib.viz.curves import plot_history

started = time.perf_counter()
history = stage.train(cfg, model, sets["train"], torch_device, checkpoint_dir=run.folder / "checkpoints")
train_seconds = time.perf_counter() - started
print(f"trained {len(history)} epochs in {train_seconds:.0f} s")
plot_history({"TDOS": history}, ["loss", "decode.loss_cls", "decode.loss_mask", "decode.loss_dice"]);

# %% [markdown]
# ## What the OOD augmentation changes
#
# TDOS pastes no foreign objects. It varies the semantics of what is there, inside the CLIP
# backbone: a region is either a whole object of a thing class in the image (a car keeps its shape
# but stops being a car) or a blob on the road, where road anomalies lie. Inside it, the last
# block's attention reads the values of randomly shuffled tokens (content from elsewhere in the
# scene), and the sub-block's output features are moved towards a channel-shuffled, rescaled,
# noised version of themselves (`perturb_strength`). The region is labelled OOD. Outside it nothing
# changes. Below, one training image: the region, how far its tokens moved (cosine to their clean
# selves), and the trained model's OOD share without and with the perturbation.
#
# Why the sub-block's output and not only the attention output: the residual connection adds the
# clean tokens back after the attention, so a perturbation there can leave the tokens almost where
# they were. The token-cosine panel is the check, on this run, of how far they moved.

# %%
from mmdl_lib.chapters.text_ood_segmentation.train import seg_batch
from mmdl_lib.chapters.text_ood_segmentation.figures import augmentation_figure

image, label = sets["train"][0]
example_batch = model.data_preprocessor(seg_batch([(image, label)]), False)
example = model.augmentation_example(example_batch["inputs"].to(torch_device), torch.from_numpy(label.astype(np.int64)),
                                     seed=cfg.seed)
augmentation_figure(image, example["region"].cpu().numpy(), example["token_cosine"].cpu().numpy(),
                    example["ood_clean"].cpu().numpy(), example["ood_perturbed"].cpu().numpy());

# %% [markdown]
# ## Evaluation
#
# In-distribution: mIoU on Cityscapes validation (the class maps' argmax over the 19 classes), the
# mean IoU over the classes that occur in the validation labels or in the predictions; a class in
# neither has no IoU (NaN in the table) and is left out, and the line below says how many classes
# the mean is over. Out of distribution, each pixel gets four scores from the **same model**:
#
# * **TDOS**: the OOD class's share of the pixel's class mass, Σ_q p_q(OOD)·m_q(x) / Σ_q Σ_c p_q(c)·m_q(x);
# * **MSP**: 1 − the largest in-distribution probability (the class maps renormalised over the 19);
# * **max logit**: − the largest in-distribution class score (Mask2Former's maps read as logits);
# * **entropy** of the renormalised in-distribution distribution.
#
# AUROC, AP (the headline: anomalies are rare, and AP is not fooled by the many easy negatives)
# and FPR at 95 % TPR, void pixels ignored, computed with scikit-learn.
#
# The four scores come from the same model on the same pixels, so they are compared **paired**:
# TDOS's score against each baseline, by a bootstrap over the OOD images (whole images are
# resampled, since the pixels of one anomaly are not independent; 1,000 resamples; AP and FPR95
# recomputed exactly on each, from each score's pixels ranked once). Under the table: the
# differences with their 95 % intervals, and the verdicts computed from them.

# %%
ood_pixels = stage.score_ood(cfg, model, sets["ood"], torch_device)
results = stage.evaluate(cfg, model, sets, torch_device, ood_pixels=ood_pixels)
segmentation, ood = results["segmentation"], results["ood"]
print(f"mIoU {segmentation['miou']:.3f} over the {segmentation['classes_scored']} of {len(segmentation['class_iou'])} "
      f"classes that occur in the validation labels or predictions (majority class everywhere: "
      f"{segmentation['chance_miou']:.3f})")
display(pd.DataFrame({"IoU": segmentation["class_iou"]}).T.round(3))
score_titles = {"tdos": "TDOS (OOD prompts)", "msp": "MSP", "max_logit": "max logit", "entropy": "entropy"}
display(pd.DataFrame(ood).T.rename(index=score_titles).round(4))
print(f"anomalous pixels: {results['anomaly_fraction']:.2%} of the scored ones (a random score's AP)")

# %%
from mmdl_lib.chapters.text_ood_segmentation.figures import score_bars

score_bars(ood, baseline_ap=results["anomaly_fraction"], titles=score_titles);

# %%
from mmdl_lib.viz.comparisons import show_comparisons

started = time.perf_counter()
rankings = stage.score_rankings(ood_pixels)
comparisons = stage.compare_scores(cfg, rankings)
comparison_seconds = time.perf_counter() - started
print(f"{len(comparisons)} comparisons, {stage.COMPARISON_RESAMPLES} resamples of the "
      f"{rankings['tdos'].n_images} OOD images each, in {comparison_seconds:.1f} s")
show_comparisons(comparisons)

# %% [markdown]
# Where TDOS's score does not beat a baseline on AP, the run says so below, with what it can
# measure about why.

# %%
from IPython.display import Markdown

Markdown(stage.comparison_notes(comparisons, rankings))

# %% [markdown]
# ## Anomaly heat maps
#
# The OOD images with the most anomalous pixels, their ground truth, and the map of each of the
# four scores the table compares (each score on one colour scale across the rows).

# %%
from mmdl_lib.chapters.text_ood_segmentation.train import predict_class_maps
from mmdl_lib.chapters.text_ood_segmentation.model import anomaly_scores
from mmdl_lib.chapters.text_ood_segmentation.figures import anomaly_heatmaps

shown = np.argsort([-(lab == 1).sum() for lab in sets["ood"].labels()])[:4]
maps = anomaly_scores(predict_class_maps(model, sets["ood"].images(shown), device=torch_device, desc="heat maps"))
anomaly_heatmaps(sets["ood"].images(shown), sets["ood"].labels(shown),
                 {name: list(maps[name].numpy()) for name in score_titles}, score_titles);

# %% [markdown]
# Read each column against the ground truth, and look for three things: whether a score marks the
# anomaly's body or only its outline; whether it lights up class boundaries, where any segmenter
# hesitates (MSP and entropy are built from that hesitation); and whether it calls what the model
# confidently segments (a car) *least* anomalous, the failure OOD segmentation exists for. TDOS's
# OOD regions in training were perturbed cars among others, so watch also whether it gives OOD mass
# to real vehicles. The maps show four images; the table and the verdicts above are over all of them.
#
# ## The run record

# %%
from mmdl_lib.engine.checkpoint import save_weights

weights = save_weights(model, run.folder / "tdos.safetensors")
metrics = {**results, "history": history, "train_seconds": train_seconds,
           "comparisons": {key: c.to_dict() for key, c in comparisons.items()}, "comparison_seconds": comparison_seconds,
           "concepts": {band: [c["name"] for c in found] for band, found in concepts.items()},
           "n_images": {name: len(s) for name, s in sets.items()}, "clip": clip}
record = run.record(metrics, config=cfg.to_dict(), artifacts={"weights": str(weights)},
                    notes=cfg.record_notes())
print({name: round(m["ap"], 4) for name, m in ood.items()}, f"mIoU {segmentation['miou']:.3f}")
print("run record:", display_path(record))

# %% [markdown]
# ## The full profile, many GPUs, fine-tuning and published numbers
#
# On a GPU box with Cityscapes under `$MMDL_DATA/cityscapes` and Fishyscapes Lost & Found under
# `$MMDL_DATA/fishyscapes_laf`:
#
# ```bash
# mmdl run 04 --profile full            # OpenCLIP ViT-B/16 (openai), packaged Mask2Former, 512×1024
# mmdl run 04 --profile full -p ood_layout road_anomaly -p ood_root /data/RoadAnomaly
# mmdl run 04 --rehearse                # before the downloads: the full configuration on a CPU, random weights
# # the seed's dist_train.sh: mmengine's launcher under torchrun, one process per GPU
# torchrun --nproc_per_node 4 -m mmdl_lib.cli.tdos_torchrun --profile full
# # the seed's --finetune: decoder and prompts only, from a trained checkpoint
# mmdl run 04 --profile full -p finetune true -p load_from results/text_ood_segmentation/<run>/tdos.safetensors
# ```
#
# Under `torchrun` each process trains on its shard of the images (a `DistributedSampler`),
# gradients are averaged by `MMDistributedDataParallel`, and only rank 0 writes checkpoints and
# the weights. The rehearsal runs the full configuration as it is — ViT-B/16 and the packaged
# Mask2Former at 512×1024 — with random weights, two real-size synthetic images and one step.
#
# | reference | benchmark | AP / FPR95 |
# |---|---|---|
# | RbA (Nayal et al., ICCV 2023), Mask2Former with "rejected by all" scoring | Road Anomaly | 85.42 / 6.92 |
#
# The smoke numbers above come from a synthetic world, a 4-layer CLIP trained on its captions and
# minutes of CPU training: they show that the pipeline learns and how the scores compare, not
# what TDOS reaches on the benchmarks.
