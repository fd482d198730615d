// The web page: sign up, confirm, log in, drop images, watch the jobs,
// read the text over the image. It talks only to the API that served it.
"use strict";

const MAX_DIRECT_BYTES = 4 * 1024 * 1024;
const POLL_MS = 1000;
// The session lives as long as the tab: never in a URL, never in localStorage.
const TOKEN_KEY = "ocr.token";
const EMAIL_KEY = "ocr.email";

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  email: sessionStorage.getItem(EMAIL_KEY),
  // Kept in memory between sign-up and confirmation only.
  pending: null,
  // A password reset under way: "email" while asking for the address, then
  // the address the code was sent to.
  reset: null,
  jobs: new Map(),
  cursor: null,
};

class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.type = problem.type || "";
  }
}

// `raw`: the successful response's body as a Blob (hOCR, text), not JSON.
async function api(method, path, { json, body, contentType, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers } };
  const sentWith = state.token;
  if (sentWith) init.headers.authorization = `Bearer ${sentWith}`;
  if (json !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.headers["content-type"] = contentType;
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiProblem(0, { detail: "The service cannot be reached. Check your connection and try again." });
  }
  if (response.status === 204) return null;
  if (raw && response.ok) return response.blob();
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : {};
  if (!response.ok) {
    const problem = new ApiProblem(response.status, data);
    // Only the session this request was made with has ended: a late answer
    // to a request made before a new token (a password change) or after a
    // sign-out must not sign the page out again.
    if (response.status === 401 && sentWith && sentWith === state.token && problem.type === "/problems/unauthorized") {
      signOut("Your session has ended. Log in again.");
    }
    throw problem;
  }
  return data;
}

function showProblem(error) {
  const box = $("problem");
  box.textContent = error instanceof ApiProblem ? error.message : `Something went wrong: ${error.message || error}`;
  box.hidden = false;
}

function notify(text) {
  $("problem").hidden = true;
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function busy(form, on) {
  for (const el of form.querySelectorAll("button, input")) el.disabled = on;
}

function handle(formId, action) {
  const form = $(formId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // Read before disabling: disabled fields are left out of FormData.
    const data = new FormData(form);
    busy(form, true);
    $("problem").hidden = true;
    try {
      await action(data);
    } catch (e) {
      showProblem(e);
    } finally {
      busy(form, false);
    }
  });
}

function render() {
  const signedIn = Boolean(state.token);
  $("signed-out").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("who-email").textContent = signedIn ? `Signed in as ${state.email}` : "";
  $("verify-form").hidden = !state.pending;
  if (state.pending) $("verify-email").textContent = state.pending.email;
  // Forgot-password steps replace the log-in form while they run.
  $("login-form").hidden = Boolean(state.reset);
  $("forgot-form").hidden = state.reset !== "email";
  $("reset-form").hidden = !state.reset || state.reset === "email";
  if (state.reset && state.reset !== "email") $("reset-email").textContent = state.reset;
}

async function logIn(email, password) {
  const token = await api("POST", "/auth/login", { json: { email, password } });
  state.token = token.access_token;
  state.email = email;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  sessionStorage.setItem(EMAIL_KEY, email);
  state.pending = null;
  state.reset = null;
  for (const form of ["login-form", "register-form", "verify-form", "forgot-form", "reset-form"]) $(form).reset();
  notify("");
  render();
  await loadJobs(true);
  $("files").focus();
}

function signOut(message) {
  state.token = null;
  state.email = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EMAIL_KEY);
  for (const job of state.jobs.values()) if (job.imageUrl) URL.revokeObjectURL(job.imageUrl);
  state.jobs.clear();
  $("jobs").replaceChildren();
  render();
  notify(message || "");
}

handle("login-form", (data) => logIn(data.get("email").trim(), data.get("password")));

handle("register-form", async (data) => {
  const account = { name: data.get("name").trim(), email: data.get("email").trim(), password: data.get("password") };
  const answer = await api("POST", "/auth/register", { json: account });
  state.pending = { email: account.email, password: account.password };
  render();
  notify(answer.message);
  $("verify-code").focus();
});

handle("verify-form", async (data) => {
  const { email, password } = state.pending;
  await api("POST", "/auth/verify", { json: { email, code: data.get("code").trim(), password } });
  await logIn(email, password);
});

$("resend-code").addEventListener("click", async () => {
  try {
    const answer = await api("POST", "/auth/code", { json: state.pending });
    notify(answer.message);
  } catch (e) {
    showProblem(e);
  }
});

$("sign-out").addEventListener("click", () => signOut("Signed out."));

// Forgot password: an e-mailed code, then a new password (which also logs in).
$("forgot-password").addEventListener("click", () => {
  state.reset = "email";
  render();
  $("forgot-email").value = $("login-email").value;
  $("forgot-email").focus();
});
$("forgot-cancel").addEventListener("click", () => {
  state.reset = null;
  render();
  $("login-email").focus();
});
handle("forgot-form", async (data) => {
  const email = data.get("email").trim();
  const answer = await api("POST", "/auth/password/forgot", { json: { email } });
  state.reset = email;
  render();
  notify(answer.message || "");
  $("reset-code").focus();
});
handle("reset-form", async (data) => {
  const email = state.reset;
  const newPassword = data.get("new_password");
  await api("POST", "/auth/password/reset", { json: { email, code: data.get("code").trim(), new_password: newPassword } });
  await logIn(email, newPassword);
  notify("Your password is changed; every other session was signed out.");
});

// The signed-in account: password, sessions, deletion.
handle("password-form", async (data) => {
  const session = state.token;
  const token = await api("POST", "/users/me/password", {
    json: { current_password: data.get("current_password"), new_password: data.get("new_password") },
  });
  // Signed out (or out everywhere) while the change was on its way: the
  // page stays signed out rather than half signed in.
  if (state.token !== session) return;
  state.token = token.access_token;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $("password-form").reset();
  notify("Your password is changed; every other session was signed out.");
});
$("sign-out-everywhere").addEventListener("click", async () => {
  try {
    await api("POST", "/users/me/sign-out-everywhere");
    signOut("Signed out everywhere: every session of this account has ended.");
  } catch (e) {
    showProblem(e);
  }
});
handle("delete-account-form", async (data) => {
  await api("DELETE", "/users/me", { json: { password: data.get("password") } });
  $("delete-account-form").reset();
  $("account").open = false;
  signOut("Your account and everything in it are deleted.");
});

// Jobs ------------------------------------------------------------------

function jobCard(id) {
  let job = state.jobs.get(id);
  if (job) return job;
  const node = $("job-template").content.firstElementChild.cloneNode(true);
  job = { id, node, name: id, status: null, result: null, imageUrl: null };
  const text = node.querySelector(".text");
  text.id = `text-${id}`;
  node.querySelector(".text-label").htmlFor = text.id;
  node.querySelector(".copy").addEventListener("click", () => copyText(job));
  for (const button of node.querySelectorAll(".download")) {
    button.addEventListener("click", () => download(job, button.dataset.format));
  }
  node.querySelector(".delete").addEventListener("click", () => deleteJob(job));
  node.querySelector(".load").addEventListener("click", () => refresh(job));
  state.jobs.set(id, job);
  return job;
}

function show(job) {
  const { node } = job;
  node.dataset.status = job.status || "";
  node.querySelector(".job-name").textContent = job.name;
  const progress = job.pagesTotal > 1 && job.status !== "DONE" ? ` (${job.pagesDone}/${job.pagesTotal} pages)` : "";
  node.querySelector(".status").textContent = (job.status || "UPLOADING").replace("_", " ").toLowerCase() + progress;
  const error = node.querySelector(".job-error");
  error.hidden = !job.error;
  error.textContent = job.error ? `This image could not be read: ${job.error}` : "";
  const result = job.result;
  node.querySelector(".result").hidden = !result;
  node.querySelector(".load").hidden = Boolean(result) || job.status !== "DONE";
  if (result) node.querySelector(".text").value = result.text;
  const note = node.querySelector(".pages-note");
  note.textContent = result ? pagesNote(result) : "";
  note.hidden = !note.textContent;
  const figure = node.querySelector(".preview");
  figure.hidden = !job.imageUrl;
  if (job.imageUrl) {
    const img = figure.querySelector("img");
    if (img.src !== job.imageUrl) img.src = job.imageUrl;
    img.alt = `The uploaded image ${job.name}`;
    drawBoxes(figure, result);
  }
}

/// The size of the image as uploaded (EXIF-oriented, as the browser shows
/// it) from the page as the service straightened it: the quarter turn
/// swaps the sides, the deskew grew the canvas by |sin| and |cos|.
function uploadedSize(page) {
  const angle = ((page.skew_degrees || 0) * Math.PI) / 180;
  const [sin, cos] = [Math.abs(Math.sin(angle)), Math.abs(Math.cos(angle))];
  const det = cos * cos - sin * sin;
  const turned = [(page.width * cos - page.height * sin) / det, (page.height * cos - page.width * sin) / det];
  const [w, h] = turned.map(Math.round);
  return (page.rotation || 0) % 180 === 90 ? [h, w] : [w, h];
}

/// What the service did to the page before reading it, in words.
function straightening(page) {
  const done = [];
  if (page.rotation) done.push(`turned ${page.rotation}°`);
  if (page.skew_degrees) done.push(`deskewed ${page.skew_degrees.toFixed(1)}°`);
  return done.join(", ");
}

/// How each page was read, for the pages with anything to say: from a
/// PDF's own text rather than by OCR, turned, deskewed.
function pagesNote(result) {
  const notes = result.pages
    .map((page) => {
      const done = [page.source === "text" ? "read from its own text" : "", straightening(page)].filter(Boolean);
      return done.length ? `page ${page.page}: ${done.join(", ")}` : "";
    })
    .filter(Boolean);
  return notes.length ? `How the pages were read: ${notes.join("; ")}.` : "";
}

/// The line boxes over the image: the SVG's coordinates are the image's
/// own pixels, so the boxes scale with it. An image is one page. The boxes
/// are in the page as the service turned and deskewed it; the group's
/// transform turns them back onto the image as uploaded.
function drawBoxes(figure, result) {
  const svg = figure.querySelector("svg");
  svg.replaceChildren();
  const page = result && result.pages[0];
  if (!page) return;
  const [width, height] = uploadedSize(page);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const group = document.createElementNS("http://www.w3.org/2000/svg", "g");
  group.setAttribute(
    "transform",
    `translate(${width / 2} ${height / 2}) rotate(${-(page.rotation || 0)}) rotate(${page.skew_degrees || 0}) ` +
      `translate(${-page.width / 2} ${-page.height / 2})`,
  );
  svg.append(group);
  for (const line of page.lines) {
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("x", line.bbox.x);
    rect.setAttribute("y", line.bbox.y);
    rect.setAttribute("width", line.bbox.width);
    rect.setAttribute("height", line.bbox.height);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = line.text;
    rect.append(title);
    group.append(rect);
  }
  const lines = result.pages.reduce((n, p) => n + p.lines.length, 0);
  const pages = result.pages.length > 1 ? ` on ${result.pages.length} pages` : "";
  const done = straightening(page);
  figure.querySelector("figcaption").textContent =
    `${lines} line${lines === 1 ? "" : "s"} found${pages} in ${result.duration_ms} ms` + (done ? ` (page ${done})` : "");
}

function update(job, data) {
  job.status = data.status;
  job.error = data.error;
  job.pagesTotal = data.pages_total;
  job.pagesDone = data.pages_done;
  if (data.result) job.result = data.result;
  show(job);
  if (data.status !== "DONE" && data.status !== "FAILED" && !job.timer) {
    job.timer = setTimeout(() => {
      job.timer = null;
      refresh(job);
    }, POLL_MS);
  }
}

async function refresh(job) {
  if (!state.token || !state.jobs.has(job.id)) return;
  try {
    update(job, await api("GET", `/jobs/${job.id}`));
  } catch (e) {
    if (e.status !== 401) showProblem(e);
  }
}

async function loadJobs(first) {
  if (first) state.cursor = null;
  const query = state.cursor ? `?limit=20&cursor=${encodeURIComponent(state.cursor)}` : "?limit=20";
  try {
    const page = await api("GET", `/jobs${query}`);
    for (const data of page.jobs) {
      if (state.jobs.has(data.job_id)) continue;
      const job = jobCard(data.job_id);
      job.name = `Job of ${new Date(data.created_at).toLocaleString()}`;
      $("jobs").append(job.node);
      update(job, data);
    }
    state.cursor = page.next_cursor;
    $("more-jobs").hidden = !state.cursor;
  } catch (e) {
    showProblem(e);
  }
}
$("more-jobs").addEventListener("click", () => loadJobs(false));

async function submit(file) {
  if (file.size > MAX_DIRECT_BYTES) {
    showProblem(new ApiProblem(413, { detail: `${file.name} is over 4 MiB; use the command-line client (ocr submit) for larger files.` }));
    return;
  }
  const placeholder = { node: $("job-template").content.firstElementChild.cloneNode(true) };
  placeholder.node.querySelector(".job-name").textContent = file.name;
  placeholder.node.querySelector(".status").textContent = "uploading";
  $("jobs").prepend(placeholder.node);
  try {
    const engine = encodeURIComponent($("engine").value);
    const accepted = await api("POST", `/ocr?engine=${engine}`, {
      body: file,
      contentType: file.type || "application/octet-stream",
      // A retried upload never makes a second job.
      headers: { "idempotency-key": crypto.randomUUID() },
    });
    const job = jobCard(accepted.job_id);
    job.name = file.name;
    // Browsers show these; a PDF or TIFF gets its text without a preview.
    if (/^image\/(png|jpeg|webp|gif|bmp)$/.test(file.type)) job.imageUrl = URL.createObjectURL(file);
    placeholder.node.replaceWith(job.node);
    update(job, accepted);
  } catch (e) {
    placeholder.node.remove();
    showProblem(new ApiProblem(e.status || 0, { detail: `${file.name}: ${e.message}` }));
  }
}

function submitAll(files) {
  notify("");
  for (const file of files) submit(file);
}

$("files").addEventListener("change", (event) => {
  submitAll([...event.target.files]);
  event.target.value = "";
});

const zone = $("drop-zone");
zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  zone.classList.add("over");
});
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  submitAll([...event.dataTransfer.files]);
});

async function copyText(job) {
  try {
    await navigator.clipboard.writeText(job.result.text);
    notify(`Copied the text of ${job.name}.`);
  } catch {
    const area = job.node.querySelector(".text");
    area.focus();
    area.select();
    notify("Press Ctrl+C (or ⌘C) to copy the selected text.");
  }
}

const DOWNLOADS = { text: ".txt", json: ".json", hocr: ".hocr.html" };

function saveBlob(blob, fileName) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = fileName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

/// The result in a format: text from memory; JSON and hOCR fetched with the
/// token and saved from a Blob; the searchable PDF by navigating to its
/// short-lived download link (the page's fetches may reach only this API).
async function download(job, format) {
  try {
    if (format === "pdf") {
      const link = await api("GET", `/jobs/${job.id}/result?format=pdf&link=true`);
      window.location.assign(link.url);
      notify(`Downloading the searchable PDF of ${job.name}.`);
      return;
    }
    const base = job.name.replace(/\.[^.]+$/, "");
    const blob = format === "text"
      ? new Blob([job.result.text], { type: "text/plain;charset=utf-8" })
      : await api("GET", `/jobs/${job.id}/result?format=${format}`, { raw: true });
    saveBlob(blob, base + DOWNLOADS[format]);
  } catch (e) {
    showProblem(e);
  }
}

async function deleteJob(job) {
  try {
    await api("DELETE", `/jobs/${job.id}`);
    clearTimeout(job.timer);
    if (job.imageUrl) URL.revokeObjectURL(job.imageUrl);
    state.jobs.delete(job.id);
    job.node.remove();
    notify(`Deleted ${job.name}.`);
  } catch (e) {
    showProblem(e);
  }
}

render();
if (state.token) loadJobs(true);
