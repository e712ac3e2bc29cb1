"""Data-set layouts for export and import: class maps read by name, the
train/val split, and the CamVid, Pascal VOC and Datumaro layouts.
``core.export`` is the entry point; see ``layouts`` for what each writes."""
