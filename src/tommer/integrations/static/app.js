// tommer serve: send the text to POST /api/detect and show the server-rendered visualisation.
// The visualisation HTML is escaped by the server (tommer.integrations.viz); everything else set here
// goes through textContent.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let seq = 0; // only the newest request's answer is shown
  let timer = null;
  const KEY_NAME = "tommer-api-key";
  let apiKey = sessionStorage.getItem(KEY_NAME) || "";

  // fetch with the API key (a server started with --api-key answers 401 without it: ask once)
  async function api(path, options, retried) {
    const headers = Object.assign({}, (options && options.headers) || {});
    if (apiKey) headers["Authorization"] = "Bearer " + apiKey;
    const response = await fetch(path, Object.assign({}, options, { headers: headers }));
    if (response.status === 401 && !retried) {
      const key = window.prompt("This server needs an API key:");
      if (key) {
        apiKey = key.trim();
        sessionStorage.setItem(KEY_NAME, apiKey);
        return api(path, options, true);
      }
    }
    return response;
  }

  function setState(state, message) {
    document.body.dataset.state = state;
    if (message !== undefined) $("status").textContent = message;
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = false;
  }

  async function detect() {
    const text = $("text").value;
    const body = {
      text: text,
      threshold: parseFloat($("threshold").value),
      decoding: $("decoding").value,
      viz: true,
    };
    const mine = ++seq;
    setState("busy", "Detecting…");
    const started = performance.now();
    let response, data;
    try {
      response = await api("/api/detect", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      data = await response.json();
    } catch (err) {
      if (mine === seq) {
        showError("Request failed: " + err);
        setState("error", "");
      }
      return;
    }
    if (mine !== seq) return;
    if (!response.ok) {
      showError((data && data.error) || response.statusText);
      setState("error", "");
      return;
    }
    $("error").hidden = true;
    const view = data.visualization;
    $("result").innerHTML = view.html;
    $("result").dataset.text = text;
    const shown = Object.assign({}, data, {
      visualization: Object.assign({}, view, { span_probs: "…", matching: "…", html: "…" }),
    });
    $("json").textContent = JSON.stringify(shown, null, 2);
    const n = data.mentions.length;
    const ms = Math.round(performance.now() - started);
    setState(
      "done",
      `${n} mention${n === 1 ? "" : "s"} · ${view.n_tokens} tokens · ${ms} ms`
    );
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(detect, delay);
  }

  async function loadInfo() {
    try {
      const info = await (await api("/health")).json();
      $("model").textContent =
        `Model: ${info.model} (backbone ${info.backbone}, layer ${info.layer}); ` +
        `heatmaps cover the first ${info.heatmap_tokens} tokens.`;
      if (typeof info.threshold === "number") {
        $("threshold").value = info.threshold;
        $("threshold-value").textContent = info.threshold.toFixed(2);
      }
    } catch (err) {
      $("model").textContent = "Model information unavailable.";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("form").addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(timer);
      detect();
    });
    $("threshold").addEventListener("input", () => {
      $("threshold-value").textContent = parseFloat($("threshold").value).toFixed(2);
      if ($("auto").checked && $("text").value) schedule(150);
    });
    $("decoding").addEventListener("change", () => {
      if ($("auto").checked && $("text").value) schedule(0);
    });
    $("text").addEventListener("input", () => {
      if ($("auto").checked) schedule(600);
    });
    $("text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        clearTimeout(timer);
        detect();
      }
    });
    loadInfo();
    setState("ready");
  });
})();
