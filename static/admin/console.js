// The Admin API query console: sends the query with the pasted JWT to this page's own URL and
// shows the JSON answer. The token lives in the form only; nothing is stored or sent elsewhere.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("console");
  const result = document.getElementById("result");
  const status = document.getElementById("status");

  async function run(query, variables) {
    const token = document.getElementById("token").value.trim();
    status.textContent = "Running…";
    const started = performance.now();
    try {
      const resp = await fetch(window.location.pathname, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify({ query, variables }),
      });
      const text = await resp.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* plain text, e.g. 403 */ }
      result.textContent = shown;
      status.textContent = `HTTP ${resp.status} in ${Math.round(performance.now() - started)} ms`;
    } catch (err) {
      status.textContent = "Request failed: " + err;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let variables = null;
    const raw = document.getElementById("variables").value.trim();
    if (raw) {
      try { variables = JSON.parse(raw); } catch (_) { status.textContent = "Variables are not valid JSON"; return; }
    }
    run(document.getElementById("query").value, variables);
  });

  document.getElementById("schema").addEventListener("click", () => {
    run("{ __schema { queryType { fields { name } } mutationType { fields { name } } " +
        "types { name kind description } } }", null);
  });
});
