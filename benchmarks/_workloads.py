"""What the benchmark runs on: stand-in models, ESCO passages, synthetic skills, course texts."""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.documents import Document

from langchain_course_skills import load_esco_skills
from langchain_course_skills.courses import Course
from langchain_course_skills.models.backends import onednn_is_faster
from langchain_course_skills.testing import (
    E5_BASE,
    TINY,
    EncoderShape,
    build_random_bi_encoder,
    build_random_cross_encoder,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"  # ../shared/data, read in place, never copied
ESCO_EN = DATA / "esco" / "skills_en_v1.1.1.csv"
DECORTE = DATA / "decorte-validation"
LABEL = "{preferredLabel}"
LABEL_DESCRIPTION = "{preferredLabel}: {description}"
# What backend="auto" runs here with the README's install, which has no extras.
LEAN_AUTO = "onednn" if onednn_is_faster() else "torch"
# all-MiniLM-L6-v2's shape, for the cross-encoder of the course-length sweep: the base-sized one
# would need minutes per point there.
MINILM_SHAPE = EncoderShape(layers=6, hidden=384, heads=12, ffn=1536)

# Two German course descriptions written for this benchmark: about 300 tokens, and over 512.
COURSE_MEDIUM = (
    "WordPress für Einsteigerinnen und Einsteiger: Eine eigene Website planen, gestalten und "
    "pflegen. In diesem Kurs lernen Sie Schritt für Schritt, wie Sie mit dem "
    "Content-Management-System WordPress eine professionelle Website für Ihren Verein, Ihr "
    "kleines Unternehmen oder Ihr eigenes Projekt aufbauen. Wir beginnen mit der Installation "
    "bei einem Webhoster, richten Domain und Datenbank ein und sichern die Seite mit einem "
    "SSL-Zertifikat ab. Danach wählen Sie ein passendes Theme aus, passen Farben, Schriften und "
    "Menüs an und legen Seiten und Beiträge an. Sie arbeiten mit dem Block-Editor, binden Bilder "
    "und Videos ein und achten dabei auf Barrierefreiheit und kurze Ladezeiten. Ein eigener "
    "Abschnitt behandelt Plugins für Kontaktformulare, Suchmaschinenoptimierung und "
    "Datensicherung sowie die Frage, wie man Sicherheitslücken durch regelmäßige Updates "
    "vermeidet. Vorkenntnisse in HTML sind nicht nötig."
)
COURSE_LONG = (
    "Projektmanagement in der Praxis: klassische und agile Methoden für Fach- und "
    "Führungskräfte. Projekte scheitern selten an der Technik, sondern an unklaren Zielen, "
    "fehlender Kommunikation und unrealistischen Zeitplänen. Dieser berufsbegleitende Lehrgang "
    "vermittelt Ihnen das Handwerkszeug, um Projekte sicher zu planen, zu steuern und "
    "erfolgreich abzuschließen. Im ersten Modul klären wir Grundbegriffe, Projektarten und "
    "Rollen, erstellen einen Projektauftrag mit messbaren Zielen und führen eine "
    "Stakeholder-Analyse durch. Sie lernen, Anforderungen zu erheben, den Projektumfang "
    "abzugrenzen und einen Projektstrukturplan aufzubauen. Im zweiten Modul geht es um die "
    "Planung: Arbeitspakete schätzen, Abhängigkeiten erkennen, Netzplan und Gantt-Diagramm "
    "erstellen, kritische Pfade berechnen sowie Ressourcen und Kosten planen. Wir arbeiten "
    "dabei mit gängiger Projektmanagement-Software und mit Tabellenkalkulation. Das dritte Modul "
    "widmet sich dem Risikomanagement: Risiken identifizieren, bewerten und Maßnahmen ableiten, "
    "Chancen nutzen und ein Frühwarnsystem einrichten. Im vierten Modul stehen agile Verfahren "
    "im Mittelpunkt. Sie lernen Scrum mit seinen Rollen, Ereignissen und Artefakten kennen, "
    "schreiben User Stories, schätzen mit Planning Poker und visualisieren den Arbeitsfluss "
    "mit Kanban-Boards. Wir vergleichen klassische, agile und hybride Vorgehensmodelle und "
    "diskutieren, wann welches Modell passt. Das fünfte Modul behandelt Führung und "
    "Kommunikation im Projekt: Teams zusammenstellen, Besprechungen moderieren, Konflikte "
    "erkennen und lösen, Feedback geben und Entscheidungen transparent dokumentieren. Sie üben "
    "schwierige Gespräche mit Auftraggebern und lernen, Veränderungen im Unternehmen so zu "
    "begleiten, dass die Betroffenen sie mittragen. Im sechsten Modul geht es um Controlling "
    "und Berichtswesen: Soll-Ist-Vergleiche, Earned-Value-Analyse, Meilensteintrendanalyse und "
    "aussagekräftige Statusberichte für die Geschäftsführung. Abschließend betrachten wir "
    "Qualitätsmanagement, Vertragsgestaltung mit externen Dienstleistern, Nachhaltigkeit in "
    "Projekten und den geordneten Projektabschluss mit Lessons Learned. Der Lehrgang wechselt "
    "zwischen kurzen Impulsvorträgen, Gruppenarbeiten, Fallstudien aus Industrie, Verwaltung "
    "und sozialen Einrichtungen sowie Übungen am eigenen Praxisprojekt. Zwischen den "
    "Präsenztagen bearbeiten Sie Aufgaben auf unserer Lernplattform und erhalten individuelles "
    "Feedback von den Dozierenden. Die Teilnahme bereitet auf anerkannte Zertifizierungen im "
    "Projektmanagement vor; die Prüfungsgebühren sind nicht im Kurspreis enthalten. Zielgruppe "
    "sind Beschäftigte, die erstmals Projekte leiten oder in Projekten mitarbeiten, sowie "
    "Führungskräfte, die Projektarbeit in ihrer Organisation einführen oder verbessern möchten."
)
COURSES = {"medium": COURSE_MEDIUM, "long": COURSE_LONG}


@dataclass(frozen=True)
class Models:
    """Local model folders: stand-ins with random weights, and the real all-MiniLM-L6-v2."""

    bi_encoder: Path
    """The bi-encoder with the e5-base shape (or tiny in quick mode)."""
    cross_encoder: Path
    """The cross-encoder with the bge-reranker-base shape (or tiny in quick mode)."""
    small_cross_encoder: Path
    """The cross-encoder of the course-length sweep (MiniLM shape, or tiny in quick mode)."""
    sweep_bi_encoder: Path
    """The bi-encoder of the taxonomy-size sweep (always tiny: 100k passages must fit)."""
    minilm: Path
    """The real all-MiniLM-L6-v2, for everything where quality is compared."""


def _build(out: Path, build: object, tokenizer: Path, shape: EncoderShape) -> Path:
    if (out / "config.json").is_file() or (out / "modules.json").is_file():
        return out  # built by an earlier run
    return build(out, tokenizer, shape=shape)  # type: ignore[operator, no-any-return]


def build_models(cache: Path, minilm: Path, quick: bool) -> Models:
    """Build (or reuse) the stand-in models under `cache`."""
    big = TINY if quick else E5_BASE
    small = TINY if quick else MINILM_SHAPE
    tag = "tiny" if quick else "e5-base"
    return Models(
        bi_encoder=_build(cache / f"bi-{tag}", build_random_bi_encoder, minilm, big),
        cross_encoder=_build(cache / f"ce-{tag}", build_random_cross_encoder, minilm, big),
        small_cross_encoder=_build(
            cache / f"ce-{'tiny' if quick else 'minilm-shape'}",
            build_random_cross_encoder,
            minilm,
            small,
        ),
        sweep_bi_encoder=_build(cache / "bi-tiny", build_random_bi_encoder, minilm, TINY),
        minilm=minilm,
    )


def esco(
    template: str, limit: int | None = None, seed: int = 0, keep: frozenset[str] = frozenset()
) -> list[Document]:
    """ESCO skills as documents; `limit` takes the skills in `keep`, then a seeded sample."""
    docs = list(_esco_documents(template))
    if limit is None or limit >= len(docs):
        return docs
    kept = [doc for doc in docs if doc.id in keep][:limit]
    rest = [doc for doc in docs if doc.id not in keep]
    return kept + random.Random(seed).sample(rest, limit - len(kept))


@functools.cache  # one run reads the 9.5 MB file once per template, not once per part
def _esco_documents(template: str) -> tuple[Document, ...]:
    return tuple(load_esco_skills(ESCO_EN, passage_template=template))


def synthetic(size: int) -> list[Document]:
    """`size` label-like passages: ESCO preferred labels, then alternative labels, then pairs."""
    skills = _esco_documents(LABEL)
    texts = list(dict.fromkeys(d.page_content for d in skills))
    labels = set(texts)
    alternatives = (alt.strip() for d in skills for alt in d.metadata["alt_labels"].split("\n"))
    texts.extend(dict.fromkeys(alt for alt in alternatives if alt and alt not in labels))
    pairs = (f"{a} und {b}" for a, b in zip(texts, reversed(texts)))
    while len(texts) < size:
        texts.append(next(pairs))
    return [
        Document(id=f"synthetic/{i}", page_content=text, metadata={"label": text})
        for i, text in enumerate(texts[:size])
    ]


def decorte() -> dict[str, list[tuple[str, str, set[str]]]]:
    """The Decorte et al. validation sets: {set: [(query id, sentence, relevant URIs)]}."""
    sets = {}
    for name in ("tech", "house"):
        lines = (DECORTE / f"{name}_validation.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        sets[name] = [(f"{name}-{i}", r["sentence"], set(r["uris"])) for i, r in enumerate(records)]
    return sets


def truncate_to_tokens(text: str, tokens: int, count: object) -> str:
    """The longest word prefix of `text` with at most `tokens` tokens by `count(text)`."""
    words = text.split()
    low, high = 1, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if count(" ".join(words[:middle])) <= tokens:  # type: ignore[operator]
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low])


def top_keys(scores: np.ndarray, keys: list[str], k: int) -> list[list[str]]:
    """The `k` keys of highest score for each row of `scores`, best first (ties: key order)."""
    return [[keys[i] for i in np.argsort(-row, kind="stable")[:k]] for row in scores]


def decorte_courses(n: int, sentences: tuple[int, int], seed: int) -> list[Course]:
    """`n` courses of a seeded number of Decorte sentences each, between `sentences` (inclusive)."""
    rng = random.Random(seed)
    pool = [text for rows in decorte().values() for _, text, _ in rows]
    return [
        Course(id=f"c{i}", text=" ".join(rng.sample(pool, rng.randint(*sentences))))
        for i in range(n)
    ]
