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
profile = "smoke"  # "full": COCO 2017 + a pretrained OpenCLIP ViT-B teacher + ConvNeXt-Tiny, on a GPU
seed = 0
data_root = None  # COCO 2017 root (train2017/, val2017/, annotations/); None → synthetic (smoke)
teacher_name = None  # open_clip model name, e.g. "ViT-B-16" (full), "ViT-L-14"
teacher_pretrained = None  # open_clip pretrained tag, e.g. "laion2b_s34b_b88k" (full), "openai"
backbone = None  # timm ConvNeXt: "convnext_tiny" (full), "convnext_atto" (smoke)
image_size = None  # crop size that teacher and student both see: the teacher's input size (224 full, 48 smoke)
epochs = None
w_clip = None  # loss weights of L_clip, L_sim, L_cos
w_sim = None
w_cos = None
kd_temperature = None  # temperature of L_sim
ablation = None  # also train with each loss alone
multiscale_variant = None  # also train DistilledConvNeXtMultiScale
max_regions = None  # cap the number of regions per split (quick tries)
device = None  # "cuda", "cuda:1", "mps", "cpu"; None → CUDA, then MPS, then CPU
resume = None  # folder of an interrupted run (results/clip_kd/<run>): training continues from its checkpoints
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
# # 01 · CLIP → ConvNeXt knowledge distillation on region crops
#
# A large CLIP model understands images and text in one embedding space, but its ViT image tower
# is too heavy to run on a car at camera rate. Here a small **ConvNeXt student** learns to *live in
# the teacher's space*: for every object crop it must produce the embedding the frozen teacher
# would, so that the teacher's text tower can still query it ("a small red car"). Training on
# **region crops** rather than whole images puts small objects in focus, which is what chapter 02's
# grounding needs. Three losses pull the student towards the teacher (seed 000, stage 1):
#
# * $L_\text{clip}$ — InfoNCE between student image and teacher text embeddings;
# * $L_\text{sim}$ — KL divergence between the teacher's and the student's image→text similarity
#   distributions at temperature $T$ (the *relations*, not only the vectors);
# * $L_\text{cos}$ — cosine alignment of student and teacher image embeddings.

# %% tags=["hide-input"]
from mmdl_lib.env import environment_report

print(environment_report())

# %%
from mmdl_lib.viz.diagram import pipeline

pipeline(["COCO image", "region crop\n+ caption", "frozen CLIP teacher\n(image + text towers)",
          "ConvNeXt student", "L_clip + L_sim + L_cos", "student in the\nteacher's space"],
         title="Stage 1: distil the teacher's image–text space into a ConvNeXt", highlight={3});

# %% [markdown]
# ## Configuration and data
#
# The `smoke` profile runs on the synthetic COCO set of chapter 00 at 48×48 crops with
# `convnext_atto`; `full` runs on COCO 2017 at 224×224 with `convnext_tiny` (ImageNet-initialised)
# and an OpenCLIP ViT-B/16 teacher. Every region is cropped in a window of at least `min_window`
# pixels, so a small object stays small inside its crop.

# %%
import pandas as pd
import torch

from mmdl_lib import region_clip
from mmdl_lib.region_clip import embed_regions, teacher_targets
from mmdl_lib.metrics.retrieval import region_chance_report, region_retrieval_report
from mmdl_lib.paths import display_path
from mmdl_lib.records import Run
from mmdl_lib.runtime import select_device, seed_everything
from mmdl_lib.chapters.clip_kd import pipeline as clip_kd
from mmdl_lib.chapters.clip_kd.figures import show_regions

cfg = clip_kd.ClipKDConfig.from_parameters(globals())  # every parameter above, by name
torch_device = select_device(cfg.device)
seed_everything(cfg.seed)
run = Run.start("clip_kd", cfg.profile, cfg.seed, resume=cfg.resume)
coco_root = region_clip.resolve_coco_root(cfg)
train_regions, val_regions = region_clip.load_regions(cfg, coco_root)
print(f"device {torch_device} · data {display_path(coco_root)}")
print(f"train: {len(train_regions)} regions, {len(train_regions.captions)} distinct captions; "
      f"skipped {dict(train_regions.report.skipped)}")
print(f"val:   {len(val_regions)} regions ({val_regions.small.mean():.0%} small), "
      f"{len(val_regions.captions)} distinct captions")
show_regions(val_regions);

# %% [markdown]
# ## The teacher
#
# With a pretrained tag the teacher is OpenCLIP as published. **No pretrained weights can be
# downloaded in the smoke profile**, so there the teacher is a small open_clip model
# (`mmdl-vit-tiny-teacher`: a 4-layer ViT image tower and a 3-layer text transformer) trained
# contrastively on the synthetic regions and their captions first. An untrained teacher would
# distil noise. It is cached and reused by later runs and by chapter 02.

# %%
teacher, teacher_info = region_clip.get_teacher(cfg, train_regions, val_regions, torch_device)
targets = teacher_targets(teacher, train_regions, val_regions, torch_device)
chance = region_chance_report(val_regions)
teacher_report = region_retrieval_report(targets.val_image, targets.val_text, val_regions)
print(f"teacher: {teacher_info['name']} ({teacher_info['pretrained'] or 'trained here'}) · "
      f"val text→region R@5 {teacher_report['t2r_R@5']:.3f} (chance {chance['t2r_R@5']:.3f})")
if teacher_info.get("history"):
    from mmdl_lib.viz.curves import plot_history

    plot_history({"teacher": teacher_info["history"]}, ["loss_total", "val_t2r_R@5"]);

# %% [markdown]
# ## Distillation
#
# The teacher's embeddings of every crop and caption are computed once, on un-augmented crops
# (offline distillation); the student sees strongly augmented crops (no hue changes: the captions
# name colours). The shared training engine checkpoints every epoch: pass an interrupted run's
# folder as the `resume` parameter and each training continues where it stopped (a checkpoint
# written with other settings is refused, not silently continued).

# %%
from mmdl_lib.viz.curves import plot_history

students, histories = {}, {}
runs = {"all three": (cfg.w_clip, cfg.w_sim, cfg.w_cos)}
if cfg.ablation:
    runs.update({k: v for k, v in clip_kd.LOSS_COMBINATIONS.items() if k != "all three"})
for name, weights in runs.items():
    students[name], histories[name] = clip_kd.train_student(
        cfg, train_regions, val_regions, targets, torch_device, weights=weights,
        checkpoint_dir=run.folder / "checkpoints" / name.replace(" ", "_"), desc=name)
if cfg.multiscale_variant:
    name = "multi-scale, all three"
    students[name], histories[name] = clip_kd.train_student(
        cfg, train_regions, val_regions, targets, torch_device, multiscale=True,
        checkpoint_dir=run.folder / "checkpoints" / "multiscale", desc=name)
plot_history(histories, ["loss_total", "val_t2r_R@5", "val_r2t_R@5"]);

# %% [markdown]
# ## Retrieval: teacher and students side by side
#
# Recall@K on the validation regions. Text→region: for each distinct caption, is a region with
# that caption among the top K? Region→text: is the region's caption among its top K captions?
# Captions repeat across regions, so every region with the query's caption counts as a match.
# The dotted line is a random ranking.

# %%
from mmdl_lib.chapters.clip_kd.figures import bar_compare

reports = {"teacher": teacher_report}
student_val = {}
for name, model in students.items():
    student_val[name] = embed_regions(model, val_regions, torch_device)
    reports[f"student ({name})"] = region_retrieval_report(student_val[name], targets.val_text, val_regions)
keys = ["t2r_R@1", "t2r_R@5", "t2r_R@10", "r2t_R@1", "r2t_R@5", "r2t_R@10"]
table = pd.DataFrame(reports).T
display(table[keys + [k + s for k in ("t2r_R@5", "r2t_R@5") for s in ("_small", "_large")]].round(3))
bar_compare({k: reports[k] for k in ("teacher", "student (all three)")}, keys, chance, "Recall@K, validation regions");

# %% [markdown]
# How sure is each gap? The student and the teacher rank the same validation queries, so a
# **paired bootstrap over the queries** (2000 resamples; the distinct captions for text→region,
# the regions for region→text) gives each difference a 95 % interval. The verdicts below are
# computed from those intervals: a difference whose interval contains zero cannot be told apart
# on this data.

# %%
from IPython.display import Markdown
from mmdl_lib.chapters.clip_kd.comparisons import ablation_answer, ablation_reason, compare_hits, retrieval_hits
from mmdl_lib.viz.comparisons import show_comparisons

hits = {"teacher": retrieval_hits(targets.val_image, targets.val_text, val_regions.caption_ids)}
hits.update({f"student ({name})": retrieval_hits(emb, targets.val_text, val_regions.caption_ids)
             for name, emb in student_val.items()})
comparisons = compare_hits(hits, "student (all three)", "teacher", ["t2r_R@5", "r2t_R@5"], seed=cfg.seed)
if "student (multi-scale, all three)" in hits:
    comparisons.update(compare_hits(hits, "student (all three)", "student (multi-scale, all three)", ["t2r_R@5"],
                                    seed=cfg.seed))
show_comparisons(comparisons)

# %% [markdown]
# ### Which loss does the work?
#
# Each loss alone against all three, same epochs and seed. The table gives the recalls; under it,
# the student trained with all three losses is compared with each single-loss student on hit@1 and
# hit@5 in both directions (paired bootstrap over the same queries as above), and the answer to
# the question is composed from those verdicts.

# %%
ablation_comparisons = {}
if cfg.ablation:
    ablation_table = table.loc[[f"student ({k})" for k in clip_kd.LOSS_COMBINATIONS], ["t2r_R@1", "t2r_R@5",
                                                                                        "r2t_R@1", "r2t_R@5"]]
    display(ablation_table.round(3))
    for name in clip_kd.LOSS_COMBINATIONS:
        if name != "all three":
            ablation_comparisons.update(compare_hits(hits, "student (all three)", f"student ({name})",
                                                     ["t2r_R@1", "t2r_R@5", "r2t_R@1", "r2t_R@5"], seed=cfg.seed))
    comparisons.update(ablation_comparisons)
show_comparisons(ablation_comparisons) if ablation_comparisons else None

# %%
if ablation_comparisons:
    answer = ablation_answer(ablation_comparisons, main="student (all three)")
    reason = ablation_reason(hits, ablation_comparisons, main="student (all three)")
    if reason:
        answer += (f"\n\n{reason}\n\nWhat the full profile should change: COCO val2017 has thousands of distinct "
                   "region captions and tens of thousands of regions, so these intervals shrink by a large factor "
                   "and the same comparison can separate losses that this synthetic set cannot.")
    display(Markdown(answer))

# %% [markdown]
# ### Qualitative: top-5 regions for a few captions

# %%
from mmdl_lib.chapters.clip_kd.figures import show_text_to_region

queries = [c for c in val_regions.captions if "small" in c][:2] + [c for c in val_regions.captions if "large" in c][:2]
show_text_to_region(queries, student_val["all three"].numpy(), targets.val_text.numpy(), val_regions);

# %% [markdown]
# ## What the student costs
#
# Parameters, FLOPs and latency per image of the teacher's image tower and the student at the
# same input size, measured in this run (on CUDA as well when a GPU is present). The sentence under
# the table states the ratios computed from it.

# %%
from mmdl_lib.metrics.cost import teacher_student_cost, teacher_student_ratios

student = students["all three"]
timing = dict(batch=max(cfg.latency_batches), repeats=2 * cfg.latency_repeats)  # a rehearsal times less
cost = teacher_student_cost(teacher, student, cfg.image_size, torch_device, **timing)
cpu_cost = cost
if torch_device.type != "cpu":
    cpu_cost = teacher_student_cost(teacher.cpu(), student.cpu(), cfg.image_size, torch.device("cpu"), **timing)
    for name in ("teacher image tower", "student"):
        cost[name].update(cpu_cost[name])
    cost[f"latency ratio ({torch_device.type})"] = cost.pop("latency ratio")
    cost["latency ratio"] = cpu_cost["latency ratio"]
    teacher.to(torch_device), student.to(torch_device)
cost_table = pd.DataFrame({name: cost[name] for name in ("teacher image tower", "student")}).T
display(cost_table.round(4))
speedup = cpu_cost["latency ratio"]
ratio = reports["student (all three)"]["t2r_R@5"] / teacher_report["t2r_R@5"]
size = {k: cost["student"][k] / cost["teacher image tower"][k] for k in ("params_M", "GFLOPs_per_image")}
print(f"the student has {size['params_M']:.2f}× the teacher tower's parameters "
      f"({cost['student']['params_M']:.2f} M against {cost['teacher image tower']['params_M']:.2f} M) and "
      f"{size['GFLOPs_per_image']:.2f}× its FLOPs per image at {cfg.image_size} px")
print(f"the student takes 1/{speedup['ratio']:.2f} of the teacher tower's time per image on the CPU "
      f"({speedup['confidence']:.0%} interval {speedup['low']:.2f}–{speedup['high']:.2f}×, {speedup['rounds']} rounds "
      f"timed in turns; median with quartiles in the table) and keeps {ratio:.0%} of the teacher's text→region R@5")

# %% [markdown]
# ## The deployment pair: what the car would run
#
# The smoke pair above is a locally trained teacher and a student built for minutes of CPU
# training, so its ratios (printed above) are not the ones deployment is about. What the seed
# cares about is the full profile's pair: the OpenCLIP ViT-B/16 image tower that cannot run
# in a car, and the ConvNeXt-Tiny meant to replace it, both at 224 px. Their cost does not depend
# on their weights, so we build both architectures with random weights and time them here, at
# batch 1 (a car embeds one frame at a time), each in its fastest runtime of three: PyTorch
# eager, PyTorch with channels-last memory, and onnxruntime with every graph optimisation.
# Fastest against fastest is the fair comparison; the FLOP ratio is what the architectures
# promise, and the latency ratio is what this CPU delivers.

# %%
pair = clip_kd.deployment_pair(repeats=cfg.latency_repeats)
pair_ratios = teacher_student_ratios(pair)
display(pd.DataFrame({name: row for name, row in pair.items() if name != "latency ratio"}).T)
low, high = pair_ratios["latency_low"], pair_ratios["latency_high"]
promise = ("below what the FLOPs promise" if high < pair_ratios["flops"] else
           "above what the FLOPs promise" if low > pair_ratios["flops"] else "in line with the FLOP ratio")
print(f"teacher tower / student: {pair_ratios['params']:.1f}× the parameters, {pair_ratios['flops']:.2f}× the FLOPs, "
      f"{pair_ratios['latency']:.2f}× the latency ({pair_ratios['latency_confidence']:.0%} interval "
      f"{low:.2f}–{high:.2f}×; each in its fastest runtime, batch 1, this CPU, timed in turns): {promise}")

# %% [markdown]
# ## Exporting the distilled student to ONNX
#
# A car runs an exported graph, not a notebook. The student goes to ONNX with a dynamic batch
# axis; onnxruntime must reproduce PyTorch on real validation crops (cosine similarity ≥ 0.999
# for every crop), and then we time the runtimes at batch 1 and 32 (`latency_batches`).

# %%
onnx_report = clip_kd.export_student(student, val_regions, run.folder / "onnx", cfg.latency_batches,
                                     cfg.latency_repeats)
print(f"student.onnx: {onnx_report['file_MB']:.1f} MB · parity on {onnx_report['parity']['rows']} validation crops: "
      f"lowest cosine {onnx_report['parity']['min_cosine']:.6f}, largest difference "
      f"{onnx_report['parity']['max_abs_diff']:.2e}")
pd.DataFrame(onnx_report["latency_ms_per_image_cpu"]).T.round(3)

# %% [markdown]
# ## Save the distilled encoders and the run record
#
# Chapter 02 loads the newest run's `student.safetensors` + `student_config.json` (or a path you
# give it). The multi-scale student is saved beside it; its stride-16 map suits grounding.

# %%
artifacts = {"student": str(clip_kd.save_outputs(run.folder / "student", student, teacher_info, cfg)),
             "student_onnx": onnx_report["path"]}
if "multi-scale, all three" in students:
    artifacts["student_multiscale"] = str(clip_kd.save_outputs(run.folder / "student_multiscale",
                                                               students["multi-scale, all three"], teacher_info, cfg))
metrics = {
    "teacher": teacher_report,
    "students": {k.removeprefix("student (").removesuffix(")"): v for k, v in reports.items() if k != "teacher"},
    "chance": chance,
    "student_over_teacher_t2r_R@5": ratio,
    "cost": cost,
    "student_speedup_cpu": speedup["ratio"],
    "student_speedup_cpu_interval": [speedup["low"], speedup["high"]],
    "deployment_pair": pair,
    "deployment_ratios": pair_ratios,
    "onnx": {k: v for k, v in onnx_report.items() if k != "path"},
    "n_regions": {"train": len(train_regions), "val": len(val_regions)},
    "comparisons": {key: c.to_dict() for key, c in comparisons.items()},
}
record = run.record(metrics, config=cfg.to_dict(), artifacts=artifacts,
                    notes="synthetic COCO, locally trained teacher" if cfg.profile == "smoke" else None)
print("run record:", display_path(record))

# %% [markdown]
# ## The full profile, and published numbers
#
# On a GPU box with COCO 2017 under `/data/coco`:
#
# ```bash
# mmdl run 01 --profile full -p data_root /data/coco
# # teacher ViT-B-16 / laion2b_s34b_b88k (open_clip), student convnext_tiny (timm, ImageNet weights),
# # 224×224 crops, 10 epochs, batch 256, lr 5e-4; other teachers: -p teacher_name ViT-L-14 -p teacher_pretrained openai
# ```
#
# Published numbers to compare a full run with (they are **not** comparable with the synthetic
# numbers above):
#
# | reference | setting | number |
# |---|---|---|
# | CLIP-KD (CVPR 2024) | ViT-L/14 teacher → ViT-B/16 student, ImageNet zero-shot | 37.0 → 57.5 |
# | open_clip ViT-B/16 (OpenAI weights) | COCO-5k retrieval, image→text R@1 / R@5 | 52.4 / 76.7 |
# | open_clip ViT-B/16 (OpenAI weights) | COCO-5k retrieval, text→image R@1 / R@5 | 33.1 / 58.4 |
