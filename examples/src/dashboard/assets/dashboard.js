// bcm dashboard: live updates, filtering, sorting, release (operators).
// Served from the binary; the page allows no inline script (Content-Security-Policy).
"use strict";
(function () {
  const POLL_MS = 1000;
  const live = document.getElementById("live");
  const filter = document.getElementById("filter");
  const stateSel = document.getElementById("state");
  const updated = document.getElementById("updated");
  let etag = null;
  const sortBy = {}; // table id -> {col, dir}

  function cellKey(row, col) {
    const td = row.cells[col];
    if (!td) return "";
    const v = td.getAttribute("data-value");
    if (v !== null && v !== "") return Number(v);
    return td.textContent.trim().toLowerCase();
  }

  function sortTable(table) {
    const s = sortBy[table.id];
    if (!s || !table.tBodies[0]) return;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = cellKey(a, s.col), y = cellKey(b, s.col);
      if (x < y) return -s.dir;
      if (x > y) return s.dir;
      return 0;
    });
    body.append.apply(body, rows);
    Array.from(table.tHead.rows[0].cells).forEach(function (th, i) {
      th.setAttribute("aria-sort", i === s.col ? (s.dir > 0 ? "ascending" : "descending") : "none");
    });
  }

  function refreshStates() {
    const seen = new Set();
    live.querySelectorAll("tr[data-state]").forEach(function (tr) {
      const v = tr.getAttribute("data-state");
      if (v) seen.add(v);
    });
    const chosen = stateSel.value;
    const have = new Set(Array.from(stateSel.options).map(function (o) { return o.value; }));
    Array.from(seen).sort().forEach(function (v) {
      if (!have.has(v)) {
        const o = document.createElement("option");
        o.value = v;
        o.textContent = v;
        stateSel.appendChild(o);
      }
    });
    stateSel.value = chosen;
  }

  function applyFilter() {
    const q = filter.value.trim().toLowerCase();
    const st = stateSel.value;
    live.querySelectorAll("table.rows tbody tr").forEach(function (tr) {
      const server = (tr.getAttribute("data-server") || "").toLowerCase();
      const target = (tr.getAttribute("data-target") || "").toLowerCase();
      const okText = q === "" || server.includes(q) || target.includes(q);
      const okState = st === "" || tr.getAttribute("data-state") === st;
      tr.hidden = !(okText && okState);
    });
  }

  function arrange() {
    live.querySelectorAll("table.sortable").forEach(sortTable);
    refreshStates();
    applyFilter();
  }

  live.addEventListener("click", function (ev) {
    const th = ev.target.closest("table.sortable thead th");
    if (th) {
      const table = th.closest("table");
      const col = th.cellIndex;
      const prev = sortBy[table.id];
      sortBy[table.id] = { col: col, dir: prev && prev.col === col ? -prev.dir : 1 };
      sortTable(table);
      return;
    }
    const btn = ev.target.closest("button.release");
    if (!btn) return;
    if (btn.getAttribute("data-armed") !== "1") {
      btn.setAttribute("data-armed", "1");
      btn.textContent = "Confirm release";
      return;
    }
    btn.disabled = true;
    btn.textContent = "Releasing…";
    const server = btn.getAttribute("data-server");
    fetch("/v1/assignments/" + encodeURIComponent(server), {
      method: "DELETE",
      credentials: "same-origin",
    }).then(function (r) {
      btn.textContent = r.ok ? "Released" : "Failed (" + r.status + ")";
      poll();
    }, function () {
      btn.textContent = "Failed";
    });
  });

  filter.addEventListener("input", applyFilter);
  stateSel.addEventListener("change", applyFilter);

  let busy = false;
  function poll() {
    if (busy) return;
    busy = true;
    const headers = {};
    if (etag) headers["If-None-Match"] = etag;
    fetch("/ui/live", { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) {
          window.location.assign("/login");
          return null;
        }
        if (r.status === 304) return null;
        if (!r.ok) throw new Error("HTTP " + r.status);
        etag = r.headers.get("ETag");
        return r.text();
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          // The server escapes every value; parsing the fragment inert and moving its
          // nodes in keeps any script out of it from running, should one ever slip in.
          const doc = new DOMParser().parseFromString("<body>" + html + "</body>", "text/html");
          live.replaceChildren.apply(live, Array.from(doc.body.childNodes));
          arrange();
        }
        updated.textContent = "updated " + new Date().toLocaleTimeString();
        updated.className = "";
      })
      .catch(function (e) {
        updated.textContent = "update failed: " + e.message;
        updated.className = "stale";
      })
      .finally(function () {
        busy = false;
      });
  }

  arrange();
  setInterval(poll, POLL_MS);
})();
