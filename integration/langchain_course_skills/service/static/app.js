// The curator page: search a course text, accept or reject each skill, download the accepted.
// Plain JavaScript, no build step, nothing loaded from elsewhere. Every text from the service or
// from a file goes into the page as text (textContent), never as HTML.
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
    catalogue: "Katalog (JSONL) öffnen",
    pick: "Kurs aus dem Katalog",
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
    "catalogue-read": "{n} Kurse aus {file} gelesen.",
    "catalogue-bad": "{file}, Zeile {line}: kein JSON-Objekt.",
    "catalogue-option": "{id} – {title}",
    "no-text": "(ohne Kurstext)",
    "from-catalogue": "Skills aus der Katalogdatei ({n}).",
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
    catalogue: "Open a catalogue (JSONL)",
    pick: "Course from the catalogue",
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
    "catalogue-read": "Read {n} courses from {file}.",
    "catalogue-bad": "{file}, line {line}: not a JSON object.",
    "catalogue-option": "{id} – {title}",
    "no-text": "(no course text)",
    "from-catalogue": "Skills from the catalogue file ({n}).",
    "course-id": "Course id: {id}",
    error: "Error: {detail}",
  },
};
const STORAGE = "course-skills-curator"; // localStorage: the last course, shown again on reload
const LANG_STORAGE = "course-skills-lang"; // localStorage: the chosen language
const TOKEN_STORAGE = "course-skills-token"; // sessionStorage: gone when the tab closes
const K = 30; // candidates per search, as the model card evaluates

const state = {
  lang: "de",
  info: null,
  text: "", // the course text the results belong to
  courseId: null,
  skills: [],
  verdicts: {}, // uri -> "accepted" | "rejected"
  catalogue: [],
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
    text: state.text,
    courseId: state.courseId,
    topN: $("top-n").value,
    rerank: $("rerank").checked,
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

// --- talking to the service -----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

async function api(path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_STORAGE);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method: body === undefined ? "GET" : "POST", headers };
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

// --- showing the store and the results --------------------------------------------------------

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
      if (state.text && !state.fromCatalogue) search();
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

function safeHref(uri) {
  return /^https?:\/\//i.test(uri) ? uri : null;
}

function evidenceBlock(skill) {
  const box = document.createElement("div");
  box.className = "evidence";
  const evidence = skill.evidence;
  if (evidence && evidence.end > evidence.start) {
    const title = document.createElement("span");
    title.className = "muted";
    title.textContent = t("evidence", { start: evidence.start, end: evidence.end });
    const quote = document.createElement("blockquote");
    quote.textContent = state.text.slice(evidence.start, evidence.end);
    box.append(title, quote);
  } else {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = t("evidence-whole");
    const quote = document.createElement("blockquote");
    quote.textContent = state.text;
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
  item.append(head, scores, evidenceBlock(skill), uri, buttons);
  return item;
}

function renderCounts() {
  const shownUris = new Set(state.skills.map((skill) => skill.uri));
  const judged = Object.entries(state.verdicts).filter(([uri]) => shownUris.has(uri));
  $("counts").textContent = t("counts", {
    shown: state.skills.length,
    accepted: judged.filter(([, v]) => v === "accepted").length,
    rejected: judged.filter(([, v]) => v === "rejected").length,
  });
}

function render(focusUri = null) {
  const list = $("results");
  list.replaceChildren(...state.skills.map(renderSkill));
  renderCounts();
  if (focusUri) {
    const item = [...list.children].find((li) => li.dataset.uri === focusUri);
    if (item) item.focus();
  }
}

// --- actions --------------------------------------------------------------------------------

async function verdictsOf(text) {
  return (await api("/v1/feedback/verdicts", { text })).verdicts;
}

// Each search or pick takes a new turn; an answer that arrives after a newer turn began is
// dropped, so that a slow search never overwrites the course shown now.
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

async function search() {
  const text = $("text").value.trim();
  if (!text) {
    setStatus("empty", {}, true);
    $("text").focus();
    return;
  }
  if (text !== state.text) state.courseId = state.pickedText === text ? state.pickedId : null;
  state.text = text;
  state.fromCatalogue = false;
  remember();
  showCourseId();
  const topN = Math.max(1, Math.min(K, Number($("top-n").value) || 10));
  // Curators see what they rejected, marked, so that they can change their mind.
  const body = { text, k: K, top_n: topN, rerank: $("rerank").checked, keep_rejected: true };
  const taxonomies = chosenTaxonomies();
  if (taxonomies) body.taxonomies = taxonomies;
  setStatus("searching");
  $("search").disabled = true;
  const turn = newTurn();
  try {
    const found = await api("/v1/skills/search", body);
    const verdicts = await verdictsOf(text);
    if (turn !== state.turn) return;
    state.skills = found.skills;
    state.verdicts = verdicts;
    render();
    if (found.skills.length) setStatus("found", { n: found.skills.length, ms: Math.round(found.took_ms) });
    else setStatus("none");
  } catch (error) {
    if (turn === state.turn) explain(error);
  } finally {
    endTurn(turn);
  }
}

async function judge(skill, verdict, moveOn) {
  const body = { text: state.text, uri: skill.uri, verdict };
  if (state.courseId) body.course_id = state.courseId;
  if (typeof skill.similarity === "number") body.similarity = Math.max(-1, Math.min(1, skill.similarity));
  if (typeof skill.relevance_score === "number") body.relevance_score = skill.relevance_score;
  if (skill.evidence) body.evidence = skill.evidence;
  try {
    await api("/v1/feedback", body);
  } catch (error) {
    explain(error);
    return;
  }
  state.verdicts[skill.uri] = verdict;
  const index = state.skills.indexOf(skill);
  const next = moveOn && index + 1 < state.skills.length ? state.skills[index + 1] : skill;
  render(next.uri);
  setStatus("saved", { label: skill.label, verdict: t(verdict) });
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

function downloadJson() {
  const skills = accepted();
  if (!skills.length) return setStatus("no-accepted", {}, true);
  const payload = { course_id: state.courseId, text: state.text, accepted: skills };
  download("accepted-skills.json", "application/json", JSON.stringify(payload, null, 2) + "\n");
}

function downloadCsv() {
  const skills = accepted();
  if (!skills.length) return setStatus("no-accepted", {}, true);
  const header = ["course_id", "rank", "uri", "label", "taxonomy", "similarity", "relevance_score", "evidence_start", "evidence_end", "fused_score"];
  const rows = skills.map((s) => [state.courseId, s.rank, s.uri, s.label, s.taxonomy, s.similarity, s.relevance_score, s.evidence?.start, s.evidence?.end, s.fused_score]);
  const lines = [header, ...rows].map((row) => row.map(csvCell).join(","));
  download("accepted-skills.csv", "text/csv", lines.join("\r\n") + "\r\n");
}

// --- files: a text, or a catalogue of courses --------------------------------------------------

function courseText(record) {
  if (typeof record.text === "string") return record.text;
  const parts = [record.title, record.description].filter((part) => typeof part === "string" && part.trim());
  return parts.join("\n\n");
}

function readCatalogue(name, content) {
  const courses = [];
  const lines = content.split(/\r?\n/);
  for (let index = 0; index < lines.length; index += 1) {
    if (!lines[index].trim()) continue;
    let record;
    try {
      record = JSON.parse(lines[index]);
    } catch {
      record = null;
    }
    if (!record || typeof record !== "object" || Array.isArray(record)) {
      setStatus("catalogue-bad", { file: name, line: index + 1 }, true);
      return;
    }
    const id = String(record.id ?? record.course_id ?? index + 1);
    courses.push({ id, text: courseText(record), title: record.title, skills: Array.isArray(record.skills) ? record.skills : null });
  }
  state.catalogue = courses;
  const select = $("course-select");
  select.replaceChildren(
    ...courses.map((course, index) => {
      const option = document.createElement("option");
      option.value = String(index);
      const title = (course.title || course.text || t("no-text")).replace(/\s+/g, " ").slice(0, 70);
      option.textContent = t("catalogue-option", { id: course.id, title });
      return option;
    }),
  );
  $("catalogue-pick").hidden = courses.length === 0;
  setStatus("catalogue-read", { n: courses.length, file: name });
  if (courses.length) pickCourse(0);
}

function showCourseId() {
  const line = $("course-id-line");
  line.hidden = !state.courseId;
  line.textContent = state.courseId ? t("course-id", { id: state.courseId }) : "";
}

async function pickCourse(index) {
  const course = state.catalogue[index];
  if (!course) return;
  setText(course.text);
  state.pickedText = course.text.trim();
  state.pickedId = course.id;
  if (!course.skills || !course.text.trim()) {
    state.courseId = course.id;
    showCourseId();
    if (course.text.trim()) await search();
    return;
  }
  // A mapped catalogue already holds the skills: show them as mapped, with today's verdicts.
  const turn = newTurn();
  state.text = course.text.trim();
  state.courseId = course.id;
  state.fromCatalogue = true;
  remember();
  showCourseId();
  let verdicts = {};
  try {
    verdicts = await verdictsOf(state.text);
  } catch (error) {
    explain(error);
  }
  if (!endTurn(turn)) return;
  state.skills = course.skills.map((skill, rank) => ({ rank: rank + 1, evidence: null, relevance_score: null, ...skill }));
  state.verdicts = verdicts;
  render();
  setStatus("from-catalogue", { n: state.skills.length });
}

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

function readFile(input, then) {
  const file = input.files && input.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => then(file.name, String(reader.result));
  reader.readAsText(file, "utf-8");
  input.value = "";
}

// --- keyboard ---------------------------------------------------------------------------------

function onResultsKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const items = [...$("results").children];
  const current = event.target.closest("li.skill");
  const index = current ? items.indexOf(current) : -1;
  const move = (to) => {
    if (items.length) items[Math.max(0, Math.min(items.length - 1, to))].focus();
    event.preventDefault();
  };
  switch (event.key) {
    case "ArrowDown":
    case "j":
      return move(index + 1);
    case "ArrowUp":
    case "k":
      return move(index - 1);
    case "Home":
      return move(0);
    case "End":
      return move(items.length - 1);
    case "a":
    case "r":
      if (index >= 0) {
        event.preventDefault();
        judge(state.skills[index], event.key === "a" ? "accepted" : "rejected", true);
      }
      return undefined;
    default:
      return undefined;
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
    if (saved.text && !state.text) {
      $("text").value = saved.text;
      state.pickedText = saved.text;
      state.pickedId = saved.courseId || null;
      await search();
    }
  } catch (error) {
    if (error.status !== 401) explain(error);
  }
}

function start() {
  applyLanguage(localStorage.getItem(LANG_STORAGE) || (navigator.language || "en").slice(0, 2));
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
  $("download-json").addEventListener("click", downloadJson);
  $("download-csv").addEventListener("click", downloadCsv);
  $("upload").addEventListener("change", (event) =>
    readFile(event.target, (name, content) => {
      setText(content);
      $("text").focus();
    }),
  );
  $("catalogue").addEventListener("change", (event) => readFile(event.target, readCatalogue));
  $("course-select").addEventListener("change", (event) => pickCourse(Number(event.target.value)));
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_STORAGE, $("token").value);
    $("token-box").hidden = true;
    connect();
  });
  connect();
}

document.addEventListener("DOMContentLoaded", start, { once: true });
