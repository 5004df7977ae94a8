// The curator page: search a course text, or review a whole catalogue held by the service course
// by course; accept or reject each skill, add one the model missed, download the accepted.
// Plain JavaScript, no build step, nothing loaded from elsewhere. Every text from the service or
// from a file goes into the page as text (textContent), never as HTML.
//
// A verdict always carries the course it was given on: the skills of a course are loaded with
// their course (id and exact text, `origin`), a verdict sends the origin of its skill, and
// opening another course clears the skills on screen before the next course's arrive.
"use strict";

const LABELS = {
  de: {
    title: "Kurs-Skills kuratieren",
    skip: "Zu den Ergebnissen springen",
    language: "Sprache",
    token: "Dieser Dienst verlangt ein Zugangstoken:",
    "use-token": "Token verwenden",
    course: "Kurs",
    "text-label": "Kursbeschreibung (einfügen oder Datei laden)",
    upload: "Textdatei laden",
    catalogue: "Katalog (JSONL: id und text, oder title und description)",
    curator: "Ihr Name (für jedes Urteil)",
    review: "Katalog prüfen",
    "review-open": "Einen ganzen Katalog prüfen",
    "review-status": "Kurse",
    "status-open": "offene",
    "status-reviewed": "geprüfte",
    "status-all": "alle",
    "min-score": "Mindest-Score",
    prev: "← Zurück (p)",
    next: "Weiter (n) →",
    done: "Geprüft (d)",
    undone: "Nicht mehr geprüft",
    leave: "Prüfung beenden, Text einfügen",
    "review-keys": "n/p: nächster/voriger Kurs · d: als geprüft markieren und weiter",
    mapped: "dazu die Ausgabe von course-skills map (optional)",
    "review-upload": "Hochladen und prüfen",
    "review-resume": "Katalog „{name}“ prüfen ({n} Kurse)",
    "review-catalogue": "Katalog „{name}“: {n} Kurse, {mapped} davon mit Skills aus course-skills map",
    progress: "{reviewed} von {total} geprüft",
    position: "Kurs {n} von {total} · {id}",
    "no-courses": "Keine Kurse in dieser Auswahl.",
    "reviewed-by": "Geprüft von: {names}",
    "not-reviewed": "Noch von niemandem als geprüft markiert.",
    "need-name": "Bitte zuerst Ihren Namen oben eintragen.",
    "need-catalogue": "Bitte zuerst eine Katalogdatei wählen.",
    uploaded: "{n} Kurse hochgeladen.",
    "marked-done": "Kurs {id} als geprüft markiert.",
    "from-map": "{n} Skills aus course-skills map.",
    "below-score": "{n} Skills unter dem Mindest-Score ausgeblendet.",
    add: "Fehlenden Skill hinzufügen (Taxonomie durchsuchen)",
    "add-search": "Suchen",
    "add-none": "Kein Skill mit diesen Wörtern im Label.",
    "add-course": "Erst einen Kurs öffnen oder suchen.",
    added: "„{label}“ hinzugefügt und akzeptiert.",
    taxonomies: "Taxonomien",
    rerank: "mit Reranker (Cross-Encoder)",
    "top-n": "Anzahl Skills",
    search: "Skills finden",
    "search-key": "Strg+Enter im Textfeld",
    results: "Gefundene Skills",
    "download-json": "Akzeptierte als JSON",
    "download-csv": "Akzeptierte als CSV",
    keys: "Tastatur: ↑/↓ oder j/k wählt einen Skill, a akzeptiert, r lehnt ab.",
    similarity: "Ähnlichkeit",
    relevance: "Relevanz",
    fused: "Passagen-Score",
    "text-cut": "Der Text hatte {total} Zeichen; nur die ersten {max} sind im Textfeld (die Grenze des Dienstes). Kürzen Sie ihn selbst, um zu wählen, was gelesen wird.",
    accept: "Akzeptieren (a)",
    reject: "Ablehnen (r)",
    accepted: "akzeptiert",
    rejected: "abgelehnt",
    evidence: "Fundstelle (Zeichen {start}–{end})",
    "evidence-whole": "Fundstelle: der ganze Kurstext",
    counts: "{shown} Skills · {accepted} akzeptiert · {rejected} abgelehnt",
    store: "Speicher: {count} Skills ({taxonomies}) · Modell {model}",
    loading: "Die Modelle werden geladen …",
    failed: "Der Dienst konnte nicht starten: {detail}",
    searching: "Suche läuft …",
    found: "{n} Skills gefunden in {ms} ms.",
    none: "Keine Skills gefunden.",
    empty: "Bitte zuerst einen Kurstext einfügen.",
    busy: "Der Dienst ist ausgelastet; bitte in {s} s erneut versuchen.",
    unauthorized: "Token fehlt oder ist falsch.",
    saved: "„{label}“: {verdict}.",
    "no-accepted": "Noch keine akzeptierten Skills.",
    "course-id": "Kurs-ID: {id}",
    error: "Fehler: {detail}",
  },
  en: {
    title: "Curate course skills",
    skip: "Skip to the results",
    language: "Language",
    token: "This service needs an access token:",
    "use-token": "Use token",
    course: "Course",
    "text-label": "Course description (paste or load a file)",
    upload: "Load a text file",
    catalogue: "Catalogue (JSONL: id and text, or title and description)",
    curator: "Your name (sent with each verdict)",
    review: "Review a catalogue",
    "review-open": "Review a whole catalogue",
    "review-status": "Courses",
    "status-open": "open",
    "status-reviewed": "reviewed",
    "status-all": "all",
    "min-score": "Minimum score",
    prev: "← Previous (p)",
    next: "Next (n) →",
    done: "Reviewed (d)",
    undone: "Not reviewed after all",
    leave: "End the review, paste a text",
    "review-keys": "n/p: next/previous course · d: mark reviewed and go on",
    mapped: "with the output of course-skills map (optional)",
    "review-upload": "Upload and review",
    "review-resume": "Review the catalogue “{name}” ({n} courses)",
    "review-catalogue": "Catalogue “{name}”: {n} courses, {mapped} with skills from course-skills map",
    progress: "{reviewed} of {total} reviewed",
    position: "Course {n} of {total} · {id}",
    "no-courses": "No courses in this selection.",
    "reviewed-by": "Reviewed by: {names}",
    "not-reviewed": "Nobody marked it reviewed yet.",
    "need-name": "Enter your name at the top first.",
    "need-catalogue": "Choose a catalogue file first.",
    uploaded: "Uploaded {n} courses.",
    "marked-done": "Marked course {id} reviewed.",
    "from-map": "{n} skills from course-skills map.",
    "below-score": "{n} skills below the minimum score are hidden.",
    add: "Add a skill the model missed (search the taxonomy)",
    "add-search": "Search",
    "add-none": "No skill has these words in its label.",
    "add-course": "Open or search a course first.",
    added: "Added and accepted “{label}”.",
    taxonomies: "Taxonomies",
    rerank: "re-rank (cross-encoder)",
    "top-n": "Number of skills",
    search: "Find skills",
    "search-key": "Ctrl+Enter in the text box",
    results: "Skills found",
    "download-json": "Accepted as JSON",
    "download-csv": "Accepted as CSV",
    keys: "Keyboard: ↑/↓ or j/k selects a skill, a accepts, r rejects.",
    similarity: "Similarity",
    relevance: "Relevance",
    fused: "Passage score",
    "text-cut": "The text had {total} characters; only the first {max} are in the text box (the service's limit). Shorten it yourself to choose what is read.",
    accept: "Accept (a)",
    reject: "Reject (r)",
    accepted: "accepted",
    rejected: "rejected",
    evidence: "Evidence (characters {start}–{end})",
    "evidence-whole": "Evidence: the whole course text",
    counts: "{shown} skills · {accepted} accepted · {rejected} rejected",
    store: "Store: {count} skills ({taxonomies}) · model {model}",
    loading: "Loading the models …",
    failed: "The service could not start: {detail}",
    searching: "Searching …",
    found: "Found {n} skills in {ms} ms.",
    none: "No skills found.",
    empty: "Paste a course text first.",
    busy: "The service is busy; try again in {s} s.",
    unauthorized: "The token is missing or wrong.",
    saved: "“{label}”: {verdict}.",
    "no-accepted": "No accepted skills yet.",
    "course-id": "Course id: {id}",
    error: "Error: {detail}",
  },
};
const STORAGE = "course-skills-curator"; // localStorage: the last course or review, shown again on reload
const LANG_STORAGE = "course-skills-lang"; // localStorage: the chosen language
const NAME_STORAGE = "course-skills-curator-name"; // localStorage: the curator's name
const TOKEN_STORAGE = "course-skills-token"; // sessionStorage: gone when the tab closes
const K = 30; // candidates per search, as the model card evaluates
const REVIEW_PAGE = 500; // courses per request when the page lists the catalogue
const LOOKUP = 10; // skills a taxonomy lookup shows

const state = {
  lang: "de",
  info: null,
  text: "", // the course text the skills on screen belong to
  courseId: null,
  skills: [], // each with `origin`: {text, courseId} of the course it was loaded for
  verdicts: {}, // uri -> "accepted" | "rejected"
  selected: null, // uri of the skill whose evidence is highlighted
  review: null, // {catalogue, ids, index, status, minScore, reviewedBy, mapped} in review mode
};

const $ = (id) => document.getElementById(id);

function t(key, values = {}) {
  const template = LABELS[state.lang][key] ?? LABELS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

// The status line keeps its key, so that a change of language translates it too.
function setStatus(key, values = {}, isError = false) {
  state.status = key ? { key, values, isError } : null;
  const status = $("status");
  status.textContent = key ? t(key, values) : "";
  status.classList.toggle("error", isError);
}

function remember() {
  const saved = {
    text: state.review ? "" : state.text,
    courseId: state.courseId,
    topN: $("top-n").value,
    rerank: $("rerank").checked,
    review: state.review ? { courseId: state.courseId, status: state.review.status, minScore: state.review.minScore } : null,
  };
  localStorage.setItem(STORAGE, JSON.stringify(saved));
}

function recalled() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE) || "{}");
  } catch {
    return {};
  }
}

function curator() {
  return $("curator").value.trim();
}

// --- talking to the service -----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

async function api(path, body, method) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_STORAGE);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method: method || (body === undefined ? "GET" : "POST"), headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const payload = await response.json().catch(() => ({}));
  if (response.status === 401) {
    $("token-box").hidden = false;
    $("token").focus();
    throw new ApiError(401, t("unauthorized"));
  }
  if (!response.ok && !(path === "/readyz" && response.status === 503)) {
    const detail = payload.message || payload.detail || response.statusText;
    throw new ApiError(response.status, String(detail), response.headers.get("Retry-After"));
  }
  return payload;
}

function query(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  return params.toString();
}

function explain(error) {
  if (error.status === 503 && error.retryAfter) {
    setStatus("busy", { s: error.retryAfter }, true);
  } else {
    setStatus("error", { detail: error.message }, true);
  }
}

async function waitUntilReady() {
  for (;;) {
    const health = await api("/readyz");
    if (health.status === "ready") return true;
    if (health.status === "failed") {
      setStatus("failed", { detail: health.detail }, true);
      return false;
    }
    setStatus("loading");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// --- showing the store, the course and its skills --------------------------------------------

function showInfo() {
  const info = state.info;
  if (!info) return;
  const taxonomies = Object.entries(info.store.taxonomies)
    .map(([name, count]) => `${name} ${Number(count).toLocaleString(state.lang)}`)
    .join(", ");
  $("store-line").textContent = t("store", {
    count: Number(info.store.skills).toLocaleString(state.lang),
    taxonomies,
    model: info.models.embedding.split("/").slice(-2).join("/"), // a Hub id, or a folder's end
  });
  const rerank = $("rerank");
  rerank.disabled = !info.models.reranker;
  if (!info.models.reranker) rerank.checked = false;
}

function buildTaxonomyFilter() {
  const fieldset = $("taxonomies");
  fieldset.querySelectorAll("label").forEach((label) => label.remove());
  for (const name of Object.keys(state.info.store.taxonomies)) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = true;
    box.value = name;
    box.addEventListener("change", () => {
      if (state.review) openCourse(state.review.index);
      else if (state.text) search();
    });
    label.append(box, document.createTextNode(name));
    fieldset.append(label);
  }
}

function chosenTaxonomies() {
  const boxes = [...$("taxonomies").querySelectorAll("input[type=checkbox]")];
  const chosen = boxes.filter((box) => box.checked).map((box) => box.value);
  return chosen.length === boxes.length ? null : chosen;
}

function score(value) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(3);
}

// The score a skill is filtered by: its relevance where re-ranked, else its similarity.
function filterScore(skill) {
  if (typeof skill.relevance_score === "number") return skill.relevance_score;
  return typeof skill.similarity === "number" ? skill.similarity : null;
}

function safeHref(uri) {
  return /^https?:\/\//i.test(uri) ? uri : null;
}

function evidenceBlock(skill) {
  const box = document.createElement("div");
  box.className = "evidence";
  const evidence = skill.evidence;
  const text = skill.origin.text;
  if (evidence && evidence.end > evidence.start) {
    const title = document.createElement("span");
    title.className = "muted";
    title.textContent = t("evidence", { start: evidence.start, end: evidence.end });
    const quote = document.createElement("blockquote");
    quote.textContent = text.slice(evidence.start, evidence.end);
    box.append(title, quote);
  } else if (!state.review) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = t("evidence-whole");
    const quote = document.createElement("blockquote");
    quote.textContent = text;
    details.append(summary, quote);
    box.append(details);
  }
  return box;
}

function renderSkill(skill) {
  const item = document.createElement("li");
  item.className = "skill";
  item.tabIndex = 0;
  item.dataset.uri = skill.uri;
  const verdict = state.verdicts[skill.uri];
  if (verdict) item.dataset.verdict = verdict;

  const head = document.createElement("div");
  head.className = "skill-head";
  const rank = document.createElement("span");
  rank.className = "rank";
  rank.textContent = `${skill.rank}.`;
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = skill.label;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = skill.taxonomy || "?";
  const tag = document.createElement("span");
  tag.className = "verdict-tag";
  tag.textContent = verdict ? t(verdict) : "";
  head.append(rank, label, badge, tag);

  const scores = document.createElement("dl");
  scores.className = "scores";
  for (const [name, value] of [
    ["similarity", skill.similarity],
    ["relevance", skill.relevance_score],
    ...(typeof skill.fused_score === "number" ? [["fused", skill.fused_score]] : []),
  ]) {
    const pair = document.createElement("div");
    const term = document.createElement("dt");
    term.textContent = t(name);
    const number = document.createElement("dd");
    number.textContent = score(value);
    pair.append(term, number);
    scores.append(pair);
  }

  const uri = document.createElement(safeHref(skill.uri) ? "a" : "span");
  uri.className = "uri";
  uri.textContent = skill.uri;
  if (safeHref(skill.uri)) {
    uri.href = skill.uri;
    uri.target = "_blank";
    uri.rel = "noopener noreferrer";
    uri.tabIndex = -1; // the keyboard walks skills and buttons; the link is for the mouse
  }

  const buttons = document.createElement("div");
  buttons.className = "verdicts";
  for (const [kind, key] of [
    ["accepted", "accept"],
    ["rejected", "reject"],
  ]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = key;
    button.textContent = t(key);
    button.setAttribute("aria-pressed", String(verdict === kind));
    button.addEventListener("click", () => judge(skill, kind, false));
    buttons.append(button);
  }
  item.setAttribute("aria-label", `${skill.rank}. ${skill.label} (${skill.taxonomy})`);
  item.append(head, scores);
  if (skill.description) {
    const description = document.createElement("p");
    description.className = "description";
    description.textContent = skill.description;
    item.append(description);
  }
  item.append(evidenceBlock(skill), uri, buttons);
  item.addEventListener("focus", () => select(skill.uri));
  return item;
}

// The skills shown: in review mode those at or above the minimum score (unscored ones too).
function shownSkills() {
  const min = state.review ? state.review.minScore : null;
  if (min === null) return state.skills;
  return state.skills.filter((skill) => filterScore(skill) === null || filterScore(skill) >= min);
}

function renderCounts() {
  const shown = shownSkills();
  const shownUris = new Set(shown.map((skill) => skill.uri));
  const judged = Object.entries(state.verdicts).filter(([uri]) => shownUris.has(uri));
  $("counts").textContent = t("counts", {
    shown: shown.length,
    accepted: judged.filter(([, v]) => v === "accepted").length,
    rejected: judged.filter(([, v]) => v === "rejected").length,
  });
  const hidden = state.skills.length - shown.length;
  $("hidden-note").hidden = hidden === 0;
  $("hidden-note").textContent = hidden ? t("below-score", { n: hidden }) : "";
}

function render(focusUri = null) {
  const list = $("results");
  list.replaceChildren(...shownSkills().map(renderSkill));
  renderCounts();
  renderCourseText();
  if (focusUri) {
    const item = [...list.children].find((li) => li.dataset.uri === focusUri);
    if (item) item.focus();
  }
}

// In review mode the course text is shown as it is (it cannot be edited: the verdicts belong
// to it), with the evidence of the selected skill marked.
function renderCourseText() {
  const box = $("course-text");
  box.hidden = !state.review;
  if (!state.review) return;
  const skill = state.skills.find((s) => s.uri === state.selected);
  const evidence = skill && skill.evidence;
  if (!evidence || evidence.end <= evidence.start) {
    box.replaceChildren(document.createTextNode(state.text));
    return;
  }
  const mark = document.createElement("mark");
  mark.id = "evidence-mark";
  mark.textContent = state.text.slice(evidence.start, evidence.end);
  box.replaceChildren(
    document.createTextNode(state.text.slice(0, evidence.start)),
    mark,
    document.createTextNode(state.text.slice(evidence.end)),
  );
}

function select(uri) {
  if (state.selected === uri) return;
  state.selected = uri;
  renderCourseText();
}

function showCourseId() {
  const line = $("course-id-line");
  line.hidden = !state.courseId;
  line.textContent = state.courseId ? t("course-id", { id: state.courseId }) : "";
}

// The skills of a course, bound to it: every verdict on one of them carries this course.
function setCourse(text, courseId, skills, verdicts) {
  const origin = { text, courseId };
  state.text = text;
  state.courseId = courseId;
  state.skills = skills.map((skill, index) => ({ ...skill, rank: index + 1, origin }));
  state.verdicts = verdicts;
  state.selected = null;
  showCourseId();
  render();
}

function clearCourse() {
  setCourse("", null, [], {});
}

// --- actions --------------------------------------------------------------------------------

async function verdictsOf(text) {
  return (await api("/v1/feedback/verdicts", { text })).verdicts;
}

// Each search or course takes a new turn; an answer that arrives after a newer turn began is
// dropped, so that a slow answer never overwrites the course shown now.
function newTurn() {
  state.turn = (state.turn || 0) + 1;
  $("results").setAttribute("aria-busy", "true");
  return state.turn;
}

function endTurn(turn) {
  if (turn !== state.turn) return false;
  $("results").setAttribute("aria-busy", "false");
  $("search").disabled = false;
  return true;
}

// Search a course text with the options of the form; the skills come marked with verdicts.
async function findSkills(text) {
  const topN = Math.max(1, Math.min(K, Number($("top-n").value) || 10));
  // Curators see what they rejected, marked, so that they can change their mind.
  const body = { text, k: K, top_n: topN, rerank: $("rerank").checked, keep_rejected: true };
  const taxonomies = chosenTaxonomies();
  if (taxonomies) body.taxonomies = taxonomies;
  return api("/v1/skills/search", body);
}

async function search() {
  if (state.review) return openCourse(state.review.index);
  const text = $("text").value.trim();
  if (!text) {
    setStatus("empty", {}, true);
    $("text").focus();
    return undefined;
  }
  const courseId = text === state.text ? state.courseId : null;
  setStatus("searching");
  $("search").disabled = true;
  const turn = newTurn();
  try {
    const found = await findSkills(text);
    const verdicts = await verdictsOf(text);
    if (turn !== state.turn) return undefined;
    setCourse(text, courseId, found.skills, verdicts);
    remember();
    if (found.skills.length) setStatus("found", { n: found.skills.length, ms: Math.round(found.took_ms) });
    else setStatus("none");
  } catch (error) {
    if (turn === state.turn) explain(error);
  } finally {
    endTurn(turn);
  }
  return undefined;
}

async function judge(skill, verdict, moveOn) {
  const { text, courseId } = skill.origin; // the course the skill was shown for, never another
  const body = { text, uri: skill.uri, verdict };
  if (courseId) body.course_id = courseId;
  if (curator()) body.curator = curator();
  if (typeof skill.similarity === "number") body.similarity = Math.max(-1, Math.min(1, skill.similarity));
  if (typeof skill.relevance_score === "number") body.relevance_score = skill.relevance_score;
  if (skill.evidence) body.evidence = skill.evidence;
  try {
    await api("/v1/feedback", body);
  } catch (error) {
    explain(error);
    return false;
  }
  if (!state.skills.includes(skill)) return true; // another course is shown now
  state.verdicts[skill.uri] = verdict;
  const shown = shownSkills();
  const index = shown.indexOf(skill);
  const next = moveOn && index + 1 < shown.length ? shown[index + 1] : skill;
  render(next.uri);
  setStatus("saved", { label: skill.label, verdict: t(verdict) });
  return true;
}

function accepted() {
  return state.skills.filter((skill) => state.verdicts[skill.uri] === "accepted");
}

function download(name, type, content) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([content], { type }));
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function withoutOrigin(skill) {
  const { origin, ...rest } = skill;
  return rest;
}

function downloadJson() {
  const skills = accepted();
  if (!skills.length) return setStatus("no-accepted", {}, true);
  const payload = { course_id: state.courseId, text: state.text, accepted: skills.map(withoutOrigin) };
  download("accepted-skills.json", "application/json", JSON.stringify(payload, null, 2) + "\n");
  return undefined;
}

function downloadCsv() {
  const skills = accepted();
  if (!skills.length) return setStatus("no-accepted", {}, true);
  const header = ["course_id", "rank", "uri", "label", "taxonomy", "similarity", "relevance_score", "evidence_start", "evidence_end", "fused_score"];
  const rows = skills.map((s) => [state.courseId, s.rank, s.uri, s.label, s.taxonomy, s.similarity, s.relevance_score, s.evidence?.start, s.evidence?.end, s.fused_score]);
  const lines = [header, ...rows].map((row) => row.map(csvCell).join(","));
  download("accepted-skills.csv", "text/csv", lines.join("\r\n") + "\r\n");
  return undefined;
}

// --- adding a skill the model missed ----------------------------------------------------------

async function lookup(event) {
  event.preventDefault();
  const q = $("add-query").value.trim();
  if (!q) return;
  if (!state.text) {
    setStatus("add-course", {}, true);
    return;
  }
  try {
    const found = await api(`/v1/skills/lookup?${query({ q, limit: LOOKUP })}`);
    const list = $("add-results");
    list.replaceChildren(
      ...found.skills.map((skill) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.uri = skill.uri;
        const label = document.createElement("strong");
        label.textContent = `${skill.label} (${skill.taxonomy})`;
        button.append(label);
        if (skill.description) {
          const description = document.createElement("span");
          description.className = "muted";
          description.textContent = skill.description.slice(0, 200);
          button.append(description);
        }
        button.addEventListener("click", () => addSkill(skill));
        item.append(button);
        return item;
      }),
    );
    if (!found.skills.length) setStatus("add-none", {}, true);
  } catch (error) {
    explain(error);
  }
}

async function addSkill(found) {
  const present = state.skills.find((skill) => skill.uri === found.uri);
  const origin = { text: state.text, courseId: state.courseId };
  const skill = present || { ...found, rank: state.skills.length + 1, similarity: null, relevance_score: null, evidence: null, origin };
  if (!(await judge(skill, "accepted", false))) return;
  if (!present && skill.origin.text === state.text && skill.origin.courseId === state.courseId) {
    state.skills.push(skill);
    state.verdicts[skill.uri] = "accepted";
    render(skill.uri);
  }
  $("add-results").replaceChildren();
  $("add-query").value = "";
  setStatus("added", { label: skill.label });
}

// --- review mode: a catalogue held by the service, course by course ----------------------------

function readFile(input) {
  const file = input.files && input.files[0];
  if (!file) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, content: String(reader.result) });
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file, "utf-8");
  });
}

async function uploadCatalogue(event) {
  event.preventDefault();
  const catalogue = await readFile($("catalogue"));
  if (!catalogue) {
    setStatus("need-catalogue", {}, true);
    return;
  }
  const mapped = await readFile($("mapped"));
  const body = { catalogue: catalogue.content, name: catalogue.name };
  if (mapped) body.mapped = mapped.content;
  try {
    const held = await api("/v1/review/catalogue", body, "PUT");
    $("catalogue").value = "";
    $("mapped").value = "";
    await startReview(held, null, "open", null);
    setStatus("uploaded", { n: held.courses });
  } catch (error) {
    explain(error);
  }
}

function reviewQuery(extra) {
  const review = state.review;
  return query({ status: review.status, curator: curator() || null, min_score: review.minScore, ...extra });
}

// Every course id of the current selection, in catalogue order, a page at a time.
async function loadSelection() {
  const ids = [];
  let offset = 0;
  while (offset !== null) {
    const page = await api(`/v1/review/courses?${reviewQuery({ limit: REVIEW_PAGE, offset })}`);
    ids.push(...page.courses.map((course) => course.id));
    showProgress(page);
    offset = page.next_offset;
  }
  state.review.ids = ids;
}

function showProgress(page) {
  $("review-progress").textContent = t("progress", { reviewed: page.reviewed, total: page.catalogue_courses });
  state.review.progress = page;
}

async function refreshProgress() {
  showProgress(await api(`/v1/review/courses?${reviewQuery({ limit: 1 })}`));
}

function showReview() {
  const review = state.review;
  document.body.classList.toggle("reviewing", Boolean(review));
  $("review").hidden = !review;
  $("paste").hidden = Boolean(review);
  if (!review) return;
  const held = review.catalogue;
  $("review-catalogue").textContent = t("review-catalogue", { name: held.name, n: held.courses, mapped: held.mapped });
  if (review.progress) $("review-progress").textContent = t("progress", { reviewed: review.progress.reviewed, total: review.progress.catalogue_courses });
  $("review-status").value = review.status;
  $("review-min-score").value = review.minScore === null ? "" : String(review.minScore);
  const id = review.ids[review.index];
  $("review-position").textContent = id === undefined ? t("no-courses") : t("position", { n: review.index + 1, total: review.ids.length, id });
  $("review-prev").disabled = review.index <= 0;
  $("review-next").disabled = review.index + 1 >= review.ids.length;
  $("review-done").disabled = id === undefined;
  const mine = review.reviewedBy.includes(curator());
  $("review-done").textContent = mine ? t("undone") : t("done");
  $("review-by").textContent = review.reviewedBy.length ? t("reviewed-by", { names: review.reviewedBy.join(", ") }) : t("not-reviewed");
}

async function startReview(held, courseId, status, minScore) {
  state.review = { catalogue: held, ids: [], index: 0, status, minScore, reviewedBy: [] };
  $("review-held").hidden = true;
  clearCourse();
  await loadSelection();
  const index = courseId ? state.review.ids.indexOf(courseId) : 0;
  await openCourse(Math.max(0, index));
}

async function openCourse(index) {
  const review = state.review;
  const turn = newTurn();
  clearCourse(); // the last course's skills go before the next course's arrive
  review.index = index;
  review.reviewedBy = [];
  showReview();
  const id = review.ids[index];
  if (id === undefined) {
    endTurn(turn);
    return;
  }
  try {
    const course = await api(`/v1/review/courses/${encodeURIComponent(id)}`);
    if (turn !== state.turn) return;
    let skills = course.skills;
    let status = ["from-map", { n: skills.length }];
    const verdicts = {};
    for (const skill of skills) if (skill.verdict) verdicts[skill.uri] = skill.verdict;
    if (!course.mapped) {
      setStatus("searching");
      const found = await findSkills(course.text);
      const uris = new Set(found.skills.map((skill) => skill.uri));
      skills = [...found.skills, ...skills.filter((skill) => !uris.has(skill.uri))];
      for (const skill of found.skills) if (skill.verdict) verdicts[skill.uri] = skill.verdict;
      const described = await api("/v1/skills/describe", { uris: skills.map((skill) => skill.uri).slice(0, 200) });
      const descriptions = Object.fromEntries(described.skills.map((skill) => [skill.uri, skill.description]));
      skills = skills.map((skill) => ({ ...skill, description: skill.description || descriptions[skill.uri] || null }));
      status = ["found", { n: found.skills.length, ms: Math.round(found.took_ms) }];
      if (turn !== state.turn) return;
    }
    review.reviewedBy = course.reviewed_by;
    setCourse(course.text, course.id, skills, verdicts);
    showReview();
    remember();
    setStatus(...status);
    const first = $("results").querySelector("li.skill");
    if (first) first.focus();
    else $("course-text").focus();
  } catch (error) {
    if (turn === state.turn) explain(error);
  } finally {
    endTurn(turn);
  }
}

function move(step) {
  const review = state.review;
  if (!review) return;
  const index = review.index + step;
  if (index < 0 || index >= review.ids.length) return;
  openCourse(index);
}

async function markDone(toggle) {
  const review = state.review;
  const id = review && review.ids[review.index];
  if (id === undefined || state.courseId !== id) return;
  if (!curator()) {
    setStatus("need-name", {}, true);
    $("curator").focus();
    return;
  }
  const done = !(toggle && review.reviewedBy.includes(curator()));
  try {
    const marked = await api(`/v1/review/courses/${encodeURIComponent(id)}/done`, { curator: curator(), done });
    review.reviewedBy = marked.reviewed_by;
    await refreshProgress();
    showReview();
    if (done) setStatus("marked-done", { id });
    if (done && !toggle) move(1);
  } catch (error) {
    explain(error);
  }
}

async function changeSelection() {
  const review = state.review;
  review.status = $("review-status").value;
  const min = $("review-min-score").value.trim();
  review.minScore = min === "" ? null : Math.max(0, Math.min(1, Number(min)));
  try {
    clearCourse();
    await loadSelection();
    await openCourse(0);
  } catch (error) {
    explain(error);
  }
}

function leaveReview() {
  state.review = null;
  newTurn();
  clearCourse();
  endTurn(state.turn);
  showReview();
  remember();
  offerHeld();
}

async function offerHeld() {
  try {
    const held = await api("/v1/review/catalogue");
    const button = $("review-resume");
    button.textContent = t("review-resume", { name: held.name, n: held.courses });
    button.onclick = () => startReview(held, null, "open", null).catch(explain);
    $("review-held").hidden = false;
    return held;
  } catch (error) {
    if (error.status !== 404) throw error;
    $("review-held").hidden = true;
    return null;
  }
}

// --- files and text --------------------------------------------------------------------------

// The text box holds at most its maxlength (the service's limit); a longer text is cut, and
// the page says so: a browser cuts a paste silently.
function noteCut(total) {
  const max = $("text").maxLength;
  const note = $("text-note");
  note.hidden = total <= max;
  note.textContent = total > max ? t("text-cut", { total, max }) : "";
}

function setText(value) {
  $("text").value = value.slice(0, $("text").maxLength);
  noteCut(value.length);
}

function onPaste(event) {
  const area = $("text");
  const pasted = event.clipboardData ? event.clipboardData.getData("text/plain") : "";
  const kept = area.value.length - (area.selectionEnd - area.selectionStart);
  noteCut(kept + pasted.length);
}

// --- keyboard ---------------------------------------------------------------------------------

function onResultsKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const items = [...$("results").children];
  const current = event.target.closest("li.skill");
  const index = current ? items.indexOf(current) : -1;
  const go = (to) => {
    if (items.length) items[Math.max(0, Math.min(items.length - 1, to))].focus();
    event.preventDefault();
  };
  switch (event.key) {
    case "ArrowDown":
    case "j":
      return go(index + 1);
    case "ArrowUp":
    case "k":
      return go(index - 1);
    case "Home":
      return go(0);
    case "End":
      return go(items.length - 1);
    case "a":
    case "r":
      if (index >= 0) {
        event.preventDefault();
        judge(shownSkills()[index], event.key === "a" ? "accepted" : "rejected", true);
      }
      return undefined;
    default:
      return undefined;
  }
}

// n, p and d walk the catalogue from anywhere but a field that takes text.
function onPageKey(event) {
  if (!state.review || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (event.target.closest("input, textarea, select")) return;
  const actions = { n: () => move(1), p: () => move(-1), d: () => markDone(false) };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

// --- start --------------------------------------------------------------------------------------

function applyLanguage(lang) {
  state.lang = LABELS[lang] ? lang : "en";
  document.documentElement.lang = state.lang;
  document.title = `course-skills · ${t("title")}`;
  $("lang").value = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((element) => {
    element.textContent = t(element.dataset.i18n);
  });
  showInfo();
  showCourseId();
  if (state.status) setStatus(state.status.key, state.status.values, state.status.isError);
  if (state.skills.length) render();
  if (state.review) showReview();
  localStorage.setItem(LANG_STORAGE, state.lang);
}

async function connect() {
  const saved = recalled();
  try {
    if (!(await waitUntilReady())) return;
    state.info = await api("/v1/info");
    showInfo();
    buildTaxonomyFilter();
    setStatus(null);
    if (saved.topN) $("top-n").value = saved.topN;
    if (typeof saved.rerank === "boolean" && !$("rerank").disabled) $("rerank").checked = saved.rerank;
    const held = await offerHeld();
    if (held && saved.review) {
      await startReview(held, saved.review.courseId, saved.review.status || "open", saved.review.minScore ?? null);
    } else if (saved.text && !state.text) {
      $("text").value = saved.text;
      state.text = saved.text;
      state.courseId = saved.courseId || null;
      await search();
    }
  } catch (error) {
    if (error.status !== 401) explain(error);
  }
}

function start() {
  applyLanguage(localStorage.getItem(LANG_STORAGE) || (navigator.language || "en").slice(0, 2));
  $("curator").value = localStorage.getItem(NAME_STORAGE) || "";
  $("curator").addEventListener("change", () => {
    localStorage.setItem(NAME_STORAGE, curator());
    if (state.review) refreshProgress().then(showReview).catch(explain);
  });
  $("lang").addEventListener("change", (event) => applyLanguage(event.target.value));
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  $("text").addEventListener("paste", onPaste);
  $("text").addEventListener("input", () => {
    if ($("text").value.length < $("text").maxLength) noteCut(0); // shortened: nothing is cut
  });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      search();
    }
  });
  $("results").addEventListener("keydown", onResultsKey);
  document.addEventListener("keydown", onPageKey);
  $("download-json").addEventListener("click", downloadJson);
  $("download-csv").addEventListener("click", downloadCsv);
  $("upload").addEventListener("change", async (event) => {
    const file = await readFile(event.target);
    event.target.value = "";
    if (file) {
      setText(file.content);
      $("text").focus();
    }
  });
  $("review-form").addEventListener("submit", uploadCatalogue);
  $("review-prev").addEventListener("click", () => move(-1));
  $("review-next").addEventListener("click", () => move(1));
  $("review-done").addEventListener("click", () => markDone(true));
  $("review-status").addEventListener("change", changeSelection);
  $("review-min-score").addEventListener("change", changeSelection);
  $("review-leave").addEventListener("click", leaveReview);
  $("add-form").addEventListener("submit", lookup);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_STORAGE, $("token").value);
    $("token-box").hidden = true;
    connect();
  });
  connect();
}

document.addEventListener("DOMContentLoaded", start, { once: true });
