"""Shared by the unit and the integration tests of backends."""

from pathlib import Path

from langchain_course_skills.models.backends import EXPORTS_FOLDER

TEXTS = [
    "WordPress Grundlagen: Themes, Plugins und eigene Seiten",
    "Projektmanagement mit Scrum",
    "Datenbanken " * 60,  # a long text, padded beside the short ones in one batch
]


def _linked_copy(source: Path, target: Path) -> Path:
    """A folder of links to `source`'s files: the export lands here, not in the fixture.

    An export that an earlier test left in `source` is not linked.
    """
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.name == EXPORTS_FOLDER:
            continue
        (target / path.name).symlink_to(path, target_is_directory=path.is_dir())
    return target
