from tests.app.conftest import image_folder, window  # noqa: F401  (shared Qt fixtures)
