"""Talk2Car writer: ``commands/{split}_commands.json`` and ``images/img_{split}_{i}.jpg``.

Every field of the real file is written: ``command``, ``command_token``, ``t2c_img``, ``2d_box``
(``[x, y, w, h]``, the referred object's 3D box projected into the image, as in Talk2Car),
``obj_name``, ``scene_token``, ``sample_token``, ``box_token`` and the 3D ``translation``,
``size`` (w, l, h) and ``rotation`` (quaternion w, x, y, z), in every split: the public release's
``test_commands.json`` carries the boxes too. ``commands/{split}_objects.json`` is a synthetic-only sidecar listing every
visible object's box per image (the candidates of the "largest object" baseline).

Presets may write several commands per image (``commands_per_image``), each about a different
object: more supervision for the same rendering cost. The real release has one per image.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from ...progress import tqdm

from ...io import write_json
from ..catalog import CLASSES
from ..language import referring_command
from ..render import Calibration, Camera
from ..scene import sample_driving_scene, scene_rng
from .common import projected_box, render, save_image, visible_boxes, visible_objects


def _token(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:32]


def _quaternion_y(yaw: float) -> list[float]:
    return [round(math.cos(yaw / 2), 6), 0.0, round(math.sin(yaw / 2), 6), 0.0]


def write_talk2car(out: Path, spec: dict, seed: int) -> Path:
    width, height = spec["size"]
    camera = Camera.with_fov(width, height, 0.79, horizon=0.47)
    calib = Calibration.for_camera(camera)
    for split, count in spec["splits"].items():
        commands, sidecar, scenes = [], {}, []
        for i in tqdm(range(count), desc=f"talk2car {split}"):
            attempt = 0
            while True:  # redraw until the scene has a clearly visible target and distractors
                rng = scene_rng(seed, "talk2car", split, i, attempt)
                scene = sample_driving_scene(rng, n_objects=(4, 8), z_range=(6.0, 28.0))
                _, view = render(scene, camera, rng)
                visible = visible_objects(scene, view, min_pixels=max(12, width * height // 4000))
                boxes = visible_boxes(view)
                targets = []
                for v in visible:
                    obj = scene.objects[v.instance_id - 1]
                    proj = projected_box(obj, calib, camera)
                    if proj is None or proj[1] >= 0.3 or boxes[v.instance_id][1] <= 0.25 * v.area:
                        continue
                    x0, y0, x1, y1 = proj[0]
                    # referents are sizeable, as in Talk2Car: at least 5 % of the width, 7 % of the height
                    if x1 - x0 >= 0.05 * width and y1 - y0 >= 0.07 * height:
                        targets.append((v, proj[0]))
                attempt += 1
                if (len(visible) >= 3 and targets) or attempt > 20:
                    break
            image = f"img_{split}_{i}.jpg"
            save_image(out / "images" / image, view.rgb)
            scene_token = _token(seed, split, "scene", i // 10)
            picks = rng.permutation(len(targets))[: spec.get("commands_per_image", 1)]
            for k, pick in enumerate(picks):
                target, (x0, y0, x1, y1) = targets[int(pick)]
                others = [v for v in visible if v.instance_id != target.instance_id]
                obj = scene.objects[target.instance_id - 1]
                h, w, l = obj.dims
                command = {
                    "command": referring_command(target, others, width, rng),
                    "command_token": _token(seed, split, "command", i, k),
                    "t2c_img": image,
                    "scene_token": scene_token,
                    "sample_token": _token(seed, split, "sample", i),
                    "obj_name": CLASSES[obj.cls].nuscenes,
                    "2d_box": [int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))],
                    "box_token": _token(seed, split, "box", i, k),
                    "translation": [round(obj.location[0], 3), round(obj.location[1] - h / 2, 3),
                                    round(obj.location[2], 3)],
                    "size": [round(w, 3), round(l, 3), round(h, 3)],
                    "rotation": _quaternion_y(obj.rotation_y),
                }
                commands.append(command)
            sidecar[image] = [{"box": [round(b, 1) for b in v.box], "class": v.cls, "color": v.color} for v in visible]
            if scene_token not in scenes:
                scenes.append(scene_token)
        write_json(out / "commands" / f"{split}_commands.json", {"commands": commands, "scene_tokens": scenes})
        write_json(out / "commands" / f"{split}_objects.json", sidecar, indent=None)
    return out
