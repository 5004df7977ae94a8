"""Every Python snippet of the README and docs/ runs as written, with test models and files.

The snippets of one Markdown file run in order in one namespace (later ones use earlier
names, as a reader would), in a folder that holds the files they name: small real slices of
the shared ESCO and GRETA data, a custom table and a gold file. The Hub models are replaced by
the local all-MiniLM-L6-v2 and the tiny cross-encoder; nothing else is changed.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ESCO_DE_LABELS, GRETA

pytestmark = pytest.mark.integration  # the README's snippets as subprocesses, with MiniLM

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
SKILLS = 100  # rows of each ESCO slice: enough for every snippet, quick to embed


def _head(source: Path, target: Path, rows: int) -> None:
    with (
        source.open(encoding="utf-8", newline="") as inp,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out)
        for index, row in enumerate(csv.reader(inp)):
            if index > rows:
                break
            writer.writerow(row)


def _workdir(folder: Path, esco_slice: Path, minilm_path: Path) -> None:
    for name in ("skills_de.csv", "skills_en.csv"):
        _head(esco_slice, folder / name, SKILLS)
    _head(ESCO_DE_LABELS, folder / ESCO_DE_LABELS.name, SKILLS)
    shutil.copy(GRETA, folder / GRETA.name)
    (folder / "digcomp.csv").write_text(
        "code,name,description\n"
        "1.1,Browsing and searching data,Find information online\n"
        "3.4,Programming,Plan and write instructions for a computer\n",
        encoding="utf-8",
    )
    with (folder / "skills_en.csv").open(encoding="utf-8", newline="") as file:
        skills = list(csv.DictReader(file))[:20]
    gold = [{"query": s["description"], "relevant": [s["conceptUri"]]} for s in skills]
    (folder / "gold.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in gold), encoding="utf-8"
    )
    (folder / "all-MiniLM-L6-v2").symlink_to(minilm_path, target_is_directory=True)


def _snippets(document: Path) -> list[str]:
    return SNIPPET.findall(document.read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_python_snippets_run_as_written(
    document: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    esco_slice: Path,
    minilm_path: Path,
    tiny_cross_encoder: Path,
) -> None:
    snippets = _snippets(document)
    if not snippets:
        pytest.skip(f"{document.name} has no Python snippet")
    _workdir(tmp_path, esco_slice, minilm_path)
    monkeypatch.chdir(tmp_path)
    substitutions = {
        "E5Embeddings()": f"E5Embeddings(model_name={str(minilm_path)!r})",
        "SkillCrossEncoder()": f"SkillCrossEncoder(model_name={str(tiny_cross_encoder)!r})",
        '"isy-thl/multilingual-e5-base-course-skill-tuned"': repr(str(minilm_path)),
        '"isy-thl/bge-reranker-base-course-skill-tuned"': repr(str(tiny_cross_encoder)),
    }
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for number, snippet in enumerate(snippets, start=1):
        for model, local in substitutions.items():
            snippet = snippet.replace(model, local)
        code = compile(snippet, f"{document.name} snippet {number}", "exec")
        exec(code, namespace)  # noqa: S102 - the point of the test
