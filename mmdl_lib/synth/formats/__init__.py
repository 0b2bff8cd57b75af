"""One writer per real dataset format."""

from .cars import write_cars
from .cityscapes import write_cityscapes
from .coco import write_coco
from .imagefolder import write_imagefolder
from .kitti import write_kitti
from .ood import write_ood
from .talk2car import write_talk2car

WRITERS = {
    "coco": write_coco,
    "talk2car": write_talk2car,
    "kitti": write_kitti,
    "cityscapes": write_cityscapes,
    "ood": write_ood,
    "imagefolder": write_imagefolder,
    "cars": write_cars,
}
