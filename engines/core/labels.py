"""Class-name tables: the synthetic camera's shapes, COCO's 80 and torchvision's 91-output numbering.

``SYNTHETIC_CLASS_NAMES`` are the classes the synthetic camera draws and the
shipped tiny models were trained on. ``COCO80`` is the contiguous 80-class order
of the official CenterNet and Ultralytics models.

COCO 2017 defines 80 categories with ids between 1 and 90; the ten ids in
between were planned categories that never got annotations. torchvision's
COCO-trained heads have 91 outputs indexed by category id, 0 being the
background, so the gaps are kept as "N/A". Our Detections use
``class_id = torchvision label - 1``, so ``COCO_CLASS_NAMES[class_id]`` names a
detection and ``coco_category_id(class_id)`` gives the official category id.
"""
from __future__ import annotations

SYNTHETIC_CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")

COCO_CATEGORIES: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}

NUM_TORCHVISION_COCO_CLASSES = 91      # background + ids 1..90
UNUSED = "N/A"

# torchvision's label order: index = category id, 0 = background
TORCHVISION_COCO_LABELS: tuple[str, ...] = ("__background__",) + tuple(
    COCO_CATEGORIES.get(i, UNUSED) for i in range(1, NUM_TORCHVISION_COCO_CLASSES))

# our class ids (torchvision label - 1): 90 names, "N/A" at the unused ids
COCO_CLASS_NAMES: tuple[str, ...] = TORCHVISION_COCO_LABELS[1:]

# Keypoint R-CNN's 17 COCO person keypoints, in the order of its outputs
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


def coco_category_id(class_id: int) -> int:
    """Our class id of a 91-output torchvision model -> the official COCO category id."""
    return int(class_id) + 1


# the contiguous 80-class order (official CenterNet, Ultralytics): COCO's categories by id
COCO80: tuple[str, ...] = tuple(COCO_CATEGORIES[key] for key in sorted(COCO_CATEGORIES))
