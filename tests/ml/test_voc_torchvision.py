"""torchvision's own Pascal VOC reader takes SegStudio's VOC export as it is."""

import numpy as np
import pytest
from torchvision.datasets import VOCSegmentation

from segstudio.core.export import export_masks
from segstudio.core.project import Project
from tests.format_data import LABELSETS, STEMS, annotate, make_images


@pytest.mark.parametrize("labels", sorted(LABELSETS))
def test_vocsegmentation_reads_the_voc_export(tmp_path, labels):
    labelset = LABELSETS[labels]
    images = make_images(tmp_path / "images")
    masks = annotate(images, labelset)
    project = Project.open(images)
    export = tmp_path / "root" / "VOCdevkit" / "VOC2012"  # where VOCSegmentation looks
    assert export_masks(project, export, "voc", split=0.3).written == len(STEMS)
    project.close()
    seen = {}
    for image_set in ("train", "val", "trainval"):
        dataset = VOCSegmentation(str(tmp_path / "root"), year="2012", image_set=image_set)
        for i in range(len(dataset)):
            image, target = dataset[i]
            key = dataset.images[i].rsplit("/", 1)[-1][: -len(".jpg")]
            # Palette indices are SegStudio's ids; labelmap.txt names them in that order.
            assert np.array_equal(np.asarray(target), masks[key]), key
            assert image.size == target.size and image.mode == "RGB"
            seen.setdefault(image_set, set()).add(key)
    assert seen["trainval"] == set(STEMS) == seen["train"] | seen["val"] and not seen["train"] & seen["val"]
    names = [line.split(":")[0] for line in (export / "labelmap.txt").read_text().splitlines()[1:]]
    assert names == list(labelset.names)
