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
profile = "smoke"  # "full" writes the large preset (real-sized images; minutes to hours)
seed = 0
preset = None  # None → the profile's preset: "tiny" for smoke, "large" for full
out_dir = None  # None → $MMDL_DATA/synthetic/chapter00-<preset>-seed<seed>
rehearse = False  # with profile "full": the rehearsal preset (the large sizes, a handful of samples)

# %% [markdown]
# # 00 · The synthetic driving world
#
# Every chapter of this book trains on real datasets — COCO, Talk2Car, KITTI, Cityscapes,
# Fishyscapes, the Hecto car challenge — that cannot be downloaded on a laptop without a GPU, in
# CI, or here. So the book carries a small procedural **3D driving world** that renders street
# scenes and writes them **in the real on-disk formats**. The loaders of later chapters read the
# synthetic files and the real ones with the same code; only the `data_root` parameter changes.
#
# The world is a road with three lanes and sidewalks, buildings, trees and poles, and road users
# (cars of five body types and seven colours, vans, trucks, buses, pedestrians, cyclists, traffic
# cones) placed so that they occlude each other. Open3D's ray casting renders one ray per pixel
# (colour, depth, semantic and instance maps at once) and one ray per laser of a 64-beam LiDAR.
# Numbers measured on synthetic data are **never** comparable with published numbers on the real
# datasets; each chapter cites those separately.

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

# %% tags=["hide-input"]
from mmdl_lib.env import environment_report

print(environment_report())

# %% [markdown]
# ## Writing every format
#
# `write_synthetic(format, out, preset, seed)` (or `mmdl synth --format … --preset … --out …`)
# writes one format. The same seed gives byte-identical files. This chapter writes the `tiny`
# preset of every format in seconds; the other chapters generate the larger `smoke` preset of the
# formats they need on first use and cache it under `$MMDL_DATA`.

# %%
from mmdl_lib.records import Run
from mmdl_lib.chapters.synthetic_world.pipeline import SyntheticWorldConfig, write_all_formats
from mmdl_lib.viz.world import format_table

cfg = SyntheticWorldConfig.from_parameters(globals())  # every parameter above, by name
report = write_all_formats(cfg)
root = cfg.output_root()
format_table(report)

# %% [markdown]
# ## COCO 2017: instances and captions
#
# `pycocotools.coco.COCO` loads the files. Captions describe objects by size (COCO's buckets:
# small < 32², medium < 96² pixels), colour and place; each instance also carries a synthetic-only
# `attributes` field with its colour.

# %%
from mmdl_lib.viz import world

world.show_coco(root / "coco");

# %% [markdown]
# ## Talk2Car: a command and the box of the object it refers to
#
# Each command names its target with just enough attributes (class, colour, side, distance) to
# single it out among the distractors, as the human-written Talk2Car commands do; `2d_box` is
# `[x, y, w, h]` in the image's pixels.

# %%
world.show_talk2car(root / "talk2car");

# %% [markdown]
# ## KITTI: image, labels, dense depth and LiDAR
#
# The velodyne points, projected with the calibration file exactly as KITTI's devkit does
# (`P2 · R0_rect · Tr_velo_to_cam · X`), land on the objects they hit; their depth agrees with
# the rendered depth map (a test checks this).

# %%
world.show_kitti(root / "kitti");

# %% [markdown]
# ## Cityscapes labels and an out-of-distribution set
#
# In-distribution scenes use Cityscapes' official label ids. The OOD set puts animals, debris and
# odd shapes — classes no training scene contains — on the road, labelled in the
# Fishyscapes / Road Anomaly convention.

# %%
world.show_segmentation(root / "cityscapes", root / "ood");

# %% [markdown]
# ## Classification folders: ImageNet-style and Hecto-style car models
#
# A car "model" is a body type, proportions, colour and details, photographed from several
# viewpoints; as in the real challenge one pair of class names shows the same model.

# %%
world.show_classification(root / "imagefolder", root / "cars");

# %%
from mmdl_lib.paths import display_path
run = Run.start("synthetic_world", profile, seed)
record = run.record({fmt: {k: v for k, v in r.items()} for fmt, r in report.items()}, config=cfg.to_dict())
print("run record:", display_path(record))
