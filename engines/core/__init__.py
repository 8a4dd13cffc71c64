"""The neutral core: types every layer shares, importing neither ``pipeline`` nor ``engines``.

``Detections`` (one frame's results), ``PreprocessSpec`` (what a network expects),
``Letterbox`` (source frame <-> network input, for boxes, masks and keypoints),
the class-name tables, COCO records and mask RLE, and the ``Scene`` protocol
through which training and evaluation get frames with ground truth.

It lives inside ``engines/`` because the client fixed the top-level layout
(pipeline/, engines/, plugins/, ...) and a generic top-level name such as
``core`` would collide with other installed packages. Only NumPy, OpenCV and
pycocotools are imported here, and ``import engines.core`` runs nothing of the
engines package (``engines/__init__.py`` is empty), so the dependency arrows
point one way: run_pipeline.py -> pipeline/ -> engines/ -> engines/core/.
A test (tests/test_imports.py) keeps it so.
"""
