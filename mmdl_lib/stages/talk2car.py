"""Chapter 02: Talk2Car grounding — command → box (seed 000, stage 2).

Steps the notebook calls: :func:`find_or_train_distilled` (chapter 01's encoder, trained here if no
run exists), :func:`load_splits`, :func:`text_encoder`, :func:`extract_features`,
:func:`train_grounding` (= :func:`fine_tune_epoch` per epoch, model choice on a held-out part of
the training split), :func:`evaluate_talk2car`, :func:`baselines`, :func:`write_predictions`,
:func:`inference_and_visualize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..config import StageConfig
from ..data.talk2car import Talk2CarDataset, denormalize_box
from ..engine import fit, load_weights, save_weights
from ..engine.trainer import run_epoch
from ..errors import ConfigError, MMDLError
from ..io import read_json, write_json
from ..losses.grounding import Talk2CarLoss
from ..metrics.boxes import cxcywh_to_xywh, grounding_metrics, pairwise_iou
from ..metrics.cost import count_parameters, latency_ms
from ..models.grounding import Talk2CarModel, build_head
from ..models.student import StudentConfig, build_student, load_student
from ..models.teacher import CLIPTeacher
from ..models.text import SentenceTextEncoder, TeacherTextEncoder
from ..paths import cache_dir, data_dir
from ..progress import tqdm
from ..records import latest_run_folder
from ..runtime import seed_everything
from ..synth import ensure_synthetic
from . import clip_kd


@dataclass
class Talk2CarConfig(StageConfig):
    data_root: str | None = None  # Talk2Car root; None → the synthetic world (smoke) or $MMDL_DATA/talk2car (full)
    synthetic_preset: str = "smoke"
    stage: str = "all"  # "all": stage 1 if missing, then 2 · "2": needs chapter 01's run · "test": inference only
    distilled: str | None = None  # folder with student.safetensors; None → the newest chapter-01 run
    encoder_variant: str = "multiscale"  # or "single"
    grounding_checkpoint: str | None = None  # for stage "test"; None → the newest chapter-02 run
    image_width: int = 1600
    image_height: int = 900
    head: str = "transformer"
    text_encoder: str = "teacher"  # or "minilm"
    epochs: int = 20
    batch_size: int = 32  # images per batch; all training commands of an image go together
    lr: float = 1e-4
    weight_decay: float = 1e-4
    w_l1: float = 5.0
    w_giou: float = 2.0
    w_attn: float = 1.0  # dense supervision of the transformer head's token scores (0 turns it off)
    w_dense: float = 1.0  # L1 + GIoU on the boxes of the tokens inside the ground truth (0 turns it off)
    d_model: int = 256
    num_layers: int = 3  # decoder layers
    num_encoder_layers: int = 2  # self-attention layers over the image tokens
    holdout_fraction: float = 0.1  # of the training split, kept for model choice
    compare: bool = True  # baselines, the other head, the other text encoder, other encoder inits
    imagenet_epochs: int = 0  # smoke: pre-train on the synthetic ImageNet-style folder; full: timm weights
    visualize: bool = True
    generate_predictions: bool = True

    PROFILES = {
        "smoke": {"image_width": 256, "image_height": 144, "epochs": 8, "batch_size": 20,
                  "lr": 2e-3, "d_model": 128, "num_layers": 1, "num_encoder_layers": 1, "imagenet_epochs": 6},
        "full": {"image_width": 800, "image_height": 450},
    }

    def __post_init__(self):
        if self.stage not in ("all", "2", "test"):
            raise ConfigError(f"stage must be 'all', '2' or 'test', got {self.stage!r}")
        if self.text_encoder not in ("teacher", "minilm"):
            raise ConfigError(f"text_encoder must be 'teacher' or 'minilm', got {self.text_encoder!r}")
        if self.encoder_variant not in ("multiscale", "single"):
            raise ConfigError(f"encoder_variant must be 'multiscale' or 'single', got {self.encoder_variant!r}")


# ----------------------------------------------------------------------------------------- data

def resolve_talk2car_root(cfg: Talk2CarConfig) -> Path:
    if cfg.data_root:
        return Path(cfg.data_root)
    if cfg.profile == "smoke":
        return ensure_synthetic("talk2car", cfg.synthetic_preset, cfg.seed)
    return data_dir() / "talk2car"


@dataclass
class Splits:
    train: Talk2CarDataset  # the official training split (train + holdout below)
    val: Talk2CarDataset  # the official validation split: the reported numbers
    test: Talk2CarDataset | None  # no boxes: predictions.json only
    train_idx: np.ndarray
    holdout_idx: np.ndarray


def load_splits(cfg: Talk2CarConfig, root: Path) -> Splits:
    size = (cfg.image_width, cfg.image_height)
    preload = cfg.profile == "smoke"
    train = Talk2CarDataset(root, "train", size, preload=preload)
    val = Talk2CarDataset(root, "val", size, preload=preload)
    has_test = any(root.rglob("test_commands.json"))
    test = Talk2CarDataset(root, "test", size, require_boxes=False, preload=preload) if has_test else None
    # hold out whole images, so no image's commands straddle the training part and the holdout
    images = np.random.default_rng(cfg.seed).permutation(len(train.images))
    held = set(images[: max(1, int(round(cfg.holdout_fraction * len(train.images))))].tolist())
    in_holdout = np.array([int(u) in held for u in train.image_index])
    return Splits(train, val, test, np.flatnonzero(~in_holdout), np.flatnonzero(in_holdout))


# -------------------------------------------------------------------------------------- encoders

def find_or_train_distilled(cfg: Talk2CarConfig) -> Path:
    """Chapter 01's output folder: ``distilled`` if given, else the newest run, else trained now."""
    name = "student_multiscale" if cfg.encoder_variant == "multiscale" else "student"
    if cfg.distilled:
        folder = Path(cfg.distilled)
        return folder / name if (folder / name / "student_config.json").is_file() else folder
    latest = latest_run_folder("clip_kd", cfg.profile)
    if latest is not None and (latest / name / "student_config.json").is_file():
        return latest / name
    if cfg.stage != "all":
        raise MMDLError(f"no chapter-01 run of profile {cfg.profile!r} with a {cfg.encoder_variant} student: "
                        "run chapter 01, pass distilled=<folder>, or use stage='all'")
    kd = clip_kd.ClipKDConfig.from_profile(cfg.profile, seed=cfg.seed, ablation=False,
                                           multiscale_variant=cfg.encoder_variant == "multiscale")
    return clip_kd.distill(kd) / name


def load_teacher(meta: dict, device: torch.device) -> CLIPTeacher:
    info = meta["teacher"]
    return CLIPTeacher(info["name"], info.get("pretrained"), weights=info.get("weights")).to(device).freeze()


def text_encoder(kind: str, teacher: CLIPTeacher | None, device: torch.device):
    if kind == "teacher":
        return TeacherTextEncoder(teacher)
    return SentenceTextEncoder(device=str(device))


def random_encoder(config: StudentConfig) -> torch.nn.Module:
    return build_student(StudentConfig(**{**config.__dict__, "pretrained": False}))


class _ImageFolderTensors(Dataset):
    def __init__(self, root: Path, size: int):
        from torchvision.datasets import ImageFolder

        self.folder = ImageFolder(str(root))
        self.size = size

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> dict:
        image, label = self.folder[index]
        array = np.asarray(image.convert("RGB").resize((self.size, self.size)))
        return {"image": torch.from_numpy(array).permute(2, 0, 1).float() / 255.0, "label": label}


def imagenet_style_encoder(cfg: Talk2CarConfig, config: StudentConfig, device: torch.device) -> torch.nn.Module:
    """ImageNet-initialised encoder: timm's weights (full), or pre-trained here on the synthetic
    ImageNet-style folder (smoke; cached), the same architecture as the distilled student."""
    if cfg.imagenet_epochs <= 0:
        return build_student(StudentConfig(**{**config.__dict__, "pretrained": True}))
    folder = cache_dir() / "imagenet_style" / f"{config.backbone}-{config.multiscale}-{cfg.imagenet_epochs}-{cfg.seed}"
    encoder = random_encoder(config)
    if (folder / "encoder.safetensors").is_file():
        return load_weights(encoder, folder / "encoder.safetensors")
    root = ensure_synthetic("imagefolder", cfg.synthetic_preset, cfg.seed)
    data = _ImageFolderTensors(root / "train", 64)
    classifier = torch.nn.Linear(encoder.map_channels, len(data.folder.classes))
    model = torch.nn.ModuleDict({"encoder": encoder, "classifier": classifier})

    def loss_fn(m, batch):
        logits = m["classifier"](m["encoder"].forward_map(batch["image"]).mean(dim=(2, 3)))
        return {"total": torch.nn.functional.cross_entropy(logits, batch["label"])}

    seed_everything(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    fit(model, optimizer, loss_fn, data, epochs=cfg.imagenet_epochs, batch_size=64, device=device, seed=cfg.seed,
        desc="ImageNet-style pre-training")
    save_weights(encoder, folder / "encoder.safetensors")
    return encoder


class _UniqueImages(Dataset):
    def __init__(self, dataset: Talk2CarDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset.images)

    def __getitem__(self, unique: int) -> torch.Tensor:
        return self.dataset.image_tensor(unique)


@torch.no_grad()
def extract_features(encoder: torch.nn.Module, dataset: Talk2CarDataset, device: torch.device,
                     batch_size: int = 32) -> torch.Tensor:
    """Stride-16 pyramid maps (``forward_pyramid``) of every distinct image (float16, CPU), in
    ``dataset.images`` order: a frozen encoder runs once per image, not once per command and epoch."""
    encoder.eval().to(device)
    loader = DataLoader(_UniqueImages(dataset), batch_size=batch_size)
    return torch.cat([encoder.forward_pyramid(images.to(device)).half().cpu()
                      for images in tqdm(loader, desc=f"features {dataset.split}")])


# -------------------------------------------------------------------------------------- training

class ImageCommands(Dataset):
    """Per distinct image: its feature map and the embeddings and boxes of its commands in ``indices``.

    Batching images rather than commands lets the commands about one image share its encoding
    (:func:`collate_image_commands` builds ``image_index``).
    """

    def __init__(self, features: torch.Tensor, image_index: np.ndarray, text: torch.Tensor, boxes: torch.Tensor,
                 indices: np.ndarray):
        self.features, self.text, self.boxes = features, text, boxes
        by_image: dict[int, list[int]] = {}
        for j in indices:
            by_image.setdefault(int(image_index[j]), []).append(int(j))
        if not by_image:
            raise MMDLError("no commands to train on: the training part of the split is empty")
        self.groups = sorted(by_image.items())

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> dict:
        image, commands = self.groups[i]
        return {"features": self.features[image], "text": self.text[commands], "box": self.boxes[commands]}


def collate_image_commands(items: list[dict]) -> dict[str, torch.Tensor]:
    counts = torch.tensor([len(item["text"]) for item in items])
    return {"features": torch.stack([item["features"] for item in items]),
            "text": torch.cat([item["text"] for item in items]),
            "box": torch.cat([item["box"] for item in items]),
            "image_index": torch.repeat_interleave(torch.arange(len(items)), counts)}


def fine_tune_epoch(model: Talk2CarModel, loader: DataLoader, criterion: Talk2CarLoss,
                    optimizer: torch.optim.Optimizer, device: torch.device, scheduler=None) -> dict[str, float]:
    """One epoch of stage-2 training with L1 + GIoU (the engine's loop, a Talk2Car loss)."""
    return run_epoch(model, loader, grounding_loss(criterion), optimizer, device, scheduler=scheduler)


def grounding_loss(criterion: Talk2CarLoss):
    def loss_fn(model: Talk2CarModel, batch: dict) -> dict[str, torch.Tensor]:
        if "features" in batch:
            output = model.forward_features(batch["features"], batch["text"], batch.get("image_index"))
        else:
            output = model.forward_features(model.encode(batch["image"]), batch["text"])
        return criterion(output, batch["box"])
    return loss_fn


@torch.no_grad()
def predict(model: Talk2CarModel, features: torch.Tensor, image_index: np.ndarray, text: torch.Tensor,
            device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """Predicted boxes ``[x, y, w, h]`` (normalised to 0–1) of the commands ``text`` describes;
    ``image_index[i]`` is the row of ``features`` holding command ``i``'s image."""
    model.eval().to(device)
    out = [_forward_commands(model, features, image_index[i:i + batch_size], text[i:i + batch_size], device)["box"]
           for i in range(0, len(text), batch_size)]
    return cxcywh_to_xywh(torch.cat(out).float().cpu())


def _forward_commands(model: Talk2CarModel, features: torch.Tensor, image_index: np.ndarray, text: torch.Tensor,
                      device: torch.device) -> dict[str, torch.Tensor]:
    """The head's output for these commands, each distinct image's map sent (and encoded) once."""
    rows, inverse = torch.unique(torch.as_tensor(image_index), return_inverse=True)
    return model.forward_features(features[rows].to(device), text.to(device), inverse.to(device))


@torch.no_grad()
def token_scores(model: Talk2CarModel, features: torch.Tensor, image_index: np.ndarray, text: torch.Tensor,
                 device: torch.device) -> torch.Tensor:
    """(N, H, W) softmax of the transformer head over the tokens, for the commands in ``text``."""
    model.eval().to(device)
    output = _forward_commands(model, features, image_index, text, device)
    if "attention" not in output:
        raise MMDLError(f"the {type(model.head).__name__} has no token scores (only the transformer head does)")
    return output["attention"].cpu()


def evaluate_talk2car(pred_xywh: torch.Tensor, target_xywh: torch.Tensor) -> dict[str, float]:
    """Mean IoU, AP50 (IoU > 0.5, as the official eval.py) and AP50..95."""
    return grounding_metrics(pred_xywh, target_xywh)


def head_kwargs(config: dict, kind: str) -> dict:
    """The transformer head's sizes from a (saved) chapter-02 config."""
    if kind != "transformer":
        return {}
    return {"d_model": config["d_model"], "num_layers": config["num_layers"],
            "num_encoder_layers": config.get("num_encoder_layers", 1)}


def train_grounding(cfg: Talk2CarConfig, encoder: torch.nn.Module, features: dict[str, torch.Tensor],
                    text: dict[str, torch.Tensor], splits: Splits, device: torch.device, head: str | None = None,
                    checkpoint_dir: Path | None = None, desc: str = "grounding"):
    """Train a head on cached features of the training part; choose the epoch by holdout AP50."""
    seed_everything(cfg.seed)
    kind = head or cfg.head
    model = Talk2CarModel(encoder, build_head(kind, encoder.pyramid_channels, text["train"].shape[1],
                                              **head_kwargs(cfg.to_dict(), kind)), freeze_encoder=True)
    boxes = splits.train.boxes
    data = ImageCommands(features["train"], splits.train.image_index, text["train"], boxes, splits.train_idx)
    criterion = Talk2CarLoss(cfg.w_l1, cfg.w_giou, cfg.w_attn, cfg.w_dense)
    hold = splits.holdout_idx

    def evaluate(m):
        holdout = evaluate_talk2car(predict(m, features["train"], splits.train.image_index[hold], text["train"][hold],
                                            device), boxes[hold])
        val = evaluate_talk2car(predict(m, features["val"], splits.val.image_index, text["val"], device),
                                splits.val.boxes)
        return {"holdout_ap50": holdout["ap50"], "holdout_mean_iou": holdout["mean_iou"], "val_ap50": val["ap50"]}

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * -(-len(data) // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    history = fit(model, optimizer, grounding_loss(criterion), data, epochs=cfg.epochs, batch_size=cfg.batch_size,
                  device=device, seed=cfg.seed, collate_fn=collate_image_commands, scheduler=scheduler,
                  evaluate=evaluate, select=("holdout_ap50", "max"), checkpoint_dir=checkpoint_dir, desc=desc)
    return model, history


# ------------------------------------------------------------------------------ baselines, output

def baselines(splits: Splits) -> dict[str, dict[str, float]]:
    """Trivial baselines on the validation split: the mean training box, and the largest object.

    The largest-object baseline needs candidate boxes: the synthetic world's ``val_objects.json``
    sidecar (with real Talk2Car, a detector's proposals would take its place).
    """
    target = splits.val.boxes
    centre = splits.train.boxes[splits.train_idx].mean(dim=0, keepdim=True).expand_as(target)
    out = {"centre prior": evaluate_talk2car(centre, target)}
    sidecar = splits.val.commands_file.with_name("val_objects.json")
    if sidecar.is_file():
        objects = read_json(sidecar)
        largest = []
        for item in splits.val.items:
            width, height = item.image_size
            candidates = objects.get(item.image.name) or [{"box": [0, 0, width, height]}]
            x, y, w, h = max((c["box"] for c in candidates), key=lambda b: b[2] * b[3])
            largest.append([x / width, y / height, w / width, h / height])
        out["largest object"] = evaluate_talk2car(torch.tensor(largest), target)
    return out


def write_predictions(path: Path, dataset: Talk2CarDataset, pred_xywh: torch.Tensor) -> Path:
    """``{command_token: [x0, y0, w, h]}`` in the original image's pixels (the official format)."""
    out = {item.command_token: [round(v, 2) for v in denormalize_box(box.tolist(), *item.image_size)]
           for item, box in zip(dataset.items, pred_xywh)}
    return write_json(path, out)


def read_predictions(path: Path, dataset: Talk2CarDataset) -> torch.Tensor:
    """Predictions back to normalised ``[x, y, w, h]`` in dataset order (errors name the token)."""
    data = read_json(path)
    boxes = []
    for item in dataset.items:
        if item.command_token not in data:
            raise MMDLError(f"{path}: no prediction for command {item.command_token}")
        x, y, w, h = data[item.command_token]
        width, height = item.image_size
        boxes.append([x / width, y / height, w / width, h / height])
    return torch.tensor(boxes)


def inference_and_visualize(dataset: Talk2CarDataset, pred_xywh: torch.Tensor, indices: list[int],
                            folder: Path | None = None, title: str = ""):
    """Predicted (red) and ground-truth (green) boxes with the command; PNGs saved to ``folder``."""
    import matplotlib.pyplot as plt

    from ..viz.boxes import draw_boxes

    cols = min(3, len(indices))
    rows = -(-len(indices) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 2.9 * rows), squeeze=False)
    for ax, i in zip(axes.ravel(), indices):
        item = dataset.items[i]
        image = dataset.load_image(i)
        h, w = image.shape[:2]
        if item.box is not None:
            draw_boxes(ax, image, [denormalize_box(item.box, w, h)], color="lime")
            iou = float(pairwise_iou(pred_xywh[i:i + 1], torch.tensor([item.box]))[0])
            label = f"IoU {iou:.2f}"
        else:
            ax.imshow(image)
            label = "no ground truth"
        draw_boxes(ax, image, [denormalize_box(pred_xywh[i].tolist(), w, h)], color="red",
                   title=f"“{item.command}”\n{label}")
    for ax in axes.ravel()[len(indices):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        fig.savefig(folder / f"{title.replace(' ', '_') or 'examples'}.png", dpi=100)
    return fig


def show_token_scores(model: Talk2CarModel, dataset: Talk2CarDataset, features: torch.Tensor, text: torch.Tensor,
                      pred_xywh: torch.Tensor, indices: list[int], device: torch.device, folder: Path | None = None):
    """Where the transformer head looks for commands ``indices``: its token scores as a heat map,
    with the predicted (red) and ground-truth (green) boxes; PNG saved to ``folder``."""
    from ..viz.grounding import plot_token_scores

    scores = token_scores(model, features, dataset.image_index[indices], text[indices], device)
    images = [dataset.load_image(i) for i in indices]
    sizes = [(image.shape[1], image.shape[0]) for image in images]
    truth = [denormalize_box(dataset.items[i].box, *size) if dataset.items[i].box is not None else None
             for i, size in zip(indices, sizes)]
    fig = plot_token_scores(images, scores.numpy(), [denormalize_box(pred_xywh[i].tolist(), *size)
                                                     for i, size in zip(indices, sizes)],
                            truth, [dataset.items[i].command for i in indices])
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        fig.savefig(folder / "token_scores.png", dpi=100)
    return fig


def latency_per_command(model: Talk2CarModel, text_dim: int, image_size: tuple[int, int],
                        device: torch.device) -> dict[str, float]:
    """Milliseconds per command (encoder + head, batch 1) and parameters."""
    images = torch.rand(1, 3, image_size[1], image_size[0], device=device)
    text = torch.randn(1, text_dim, device=device)
    model.eval().to(device)
    return {"params_M": count_parameters(model) / 1e6,
            f"latency_ms_{device.type}": latency_ms(lambda x: model(x, text), images, repeats=20)}


def vit_b_alternative(cfg: Talk2CarConfig, text_dim: int, device: torch.device) -> dict[str, float]:
    """The same measurement for a ViT-B/32 image tower (open_clip architecture, 224×224) with the
    same kind of head over its 7×7 patch tokens: what a ViT-B-based grounding model would cost."""
    vit = CLIPTeacher("ViT-B-32").image_tower.to(device).eval()
    vit.output_tokens = True
    head = build_head(cfg.head, vit.transformer.width, text_dim, **head_kwargs(cfg.to_dict(), cfg.head))
    head = head.to(device).eval()
    text = torch.randn(1, text_dim, device=device)

    def run(images: torch.Tensor) -> torch.Tensor:
        _, tokens = vit(images)
        side = int(tokens.shape[1] ** 0.5)
        return head(tokens.transpose(1, 2).reshape(tokens.shape[0], -1, side, side), text)

    return {"params_M": (count_parameters(vit) + count_parameters(head)) / 1e6,
            f"latency_ms_{device.type}": latency_ms(run, torch.rand(1, 3, 224, 224, device=device), repeats=20)}


def save_grounding(folder: Path, model: Talk2CarModel, cfg: Talk2CarConfig, encoder_folder: Path,
                   text_dim: int) -> Path:
    save_weights(model.head, folder / "head.safetensors")
    write_json(folder / "grounding_config.json", {"config": cfg.to_dict(), "encoder": str(encoder_folder),
                                                  "text_dim": text_dim})
    return folder


def load_grounding(folder: Path) -> tuple[Talk2CarModel, dict]:
    meta = read_json(folder / "grounding_config.json")
    encoder, _ = load_student(meta["encoder"])
    cfg = meta["config"]
    head = build_head(cfg["head"], encoder.pyramid_channels, meta["text_dim"], **head_kwargs(cfg, cfg["head"]))
    load_weights(head, folder / "head.safetensors")
    return Talk2CarModel(encoder, head), meta


def latest_grounding(cfg: Talk2CarConfig) -> Path:
    if cfg.grounding_checkpoint:
        return Path(cfg.grounding_checkpoint)
    latest = latest_run_folder("talk2car", cfg.profile)
    if latest is None or not (latest / "grounding" / "grounding_config.json").is_file():
        raise MMDLError(f"stage 'test' needs a trained grounding model: no chapter-02 run of profile "
                        f"{cfg.profile!r}; run with stage='all' first or pass grounding_checkpoint")
    return latest / "grounding"
