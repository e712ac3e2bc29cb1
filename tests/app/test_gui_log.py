"""A GUI session writes what happened to the log: the folder opened, unreadable files."""

import logging


def test_opening_a_folder_logs_it_and_names_unreadable_files(qtbot, window, image_folder, caplog):
    (image_folder / "broken.png").write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="segstudio"):
        assert window.open_folder(image_folder)
        window.show_image("broken")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("segstudio")]
    assert any(m.startswith("opened ") and str(image_folder) in m and "4 image(s)" in m for m in messages), messages
    assert any(m.startswith("unreadable: ") and "broken.png" in m for m in messages), messages
