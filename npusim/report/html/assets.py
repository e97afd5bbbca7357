"""The page's stylesheet and script, inlined so the report works offline.
"""

from __future__ import annotations

_CSS = """
:root{--bg:#f4f6f9;--panel:#fff;--ink:#1f2933;--mute:#616e7c;--line:#e4e7eb;--accent:#2f6fb3;
--est:#b7791f;--estbg:#fff8e6;--okbg:#eef8f1;--ok:#2f855a}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",sans-serif}
.wrap{max-width:1360px;margin:0 auto;padding:0 24px}
header{background:#1d2b3a;color:#fff;padding:18px 0 0}
header .brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#9fb3c8}
header h1{margin:2px 0 6px;font-size:24px;font-weight:600}
header h1 .on{color:#9fb3c8;font-weight:400}
.meta{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px;color:#d9e2ec}
.meta b{color:#9fb3c8;font-weight:500;margin-right:4px}
nav{display:flex;gap:4px;margin-top:12px;flex-wrap:wrap}
nav a{color:#d9e2ec;text-decoration:none;padding:7px 12px;border-radius:6px 6px 0 0;font-size:13px}
nav a:hover{background:#2b3d50;color:#fff}
section{margin:26px 0}
section.first{margin-top:20px}
h2{font-size:17px;margin:0 0 10px;font-weight:600;border-bottom:1px solid var(--line);padding-bottom:6px}
h3{font-size:14px;margin:0 0 8px;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .k{font-size:12px;color:var(--mute);text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:26px;font-weight:600;margin:2px 0;font-variant-numeric:tabular-nums}
.card .s{font-size:12px;color:var(--mute)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px;align-items:start}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0 0 14px}
figure{margin:0}
figure img{width:100%;height:auto;display:block}
figcaption,.note{font-size:12.5px;color:var(--mute);margin:6px 0}
.prov{font-size:12px;margin-top:8px;padding:6px 10px;border-radius:6px}
.prov.ok{background:var(--okbg);color:var(--ok)}
.prov.est{background:var(--estbg);color:#744210}
.prov summary{cursor:pointer}
.prov ul{margin:6px 0 2px;padding-left:18px}
.badge{background:var(--est);color:#fff;border-radius:4px;padding:1px 6px;font-size:11px;margin-right:4px}
.est{color:var(--est);font-weight:700}
.tablewrap{background:var(--panel);border:1px solid var(--line);border-radius:8px;overflow:auto;max-height:720px}
table{border-collapse:collapse;width:100%;font-size:12px;font-variant-numeric:tabular-nums}
th,td{padding:5px 6px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#f0f3f7;position:sticky;top:0;font-weight:600;color:#3e4c59;cursor:default}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:hover{background:#e3e9f0}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
td.num,th.num{text-align:right}
td.ops{white-space:normal;min-width:140px;max-width:210px;font-size:12px}
td.name .n{display:inline-block;max-width:215px;overflow:hidden;text-overflow:ellipsis;vertical-align:bottom}
td.name .more{color:var(--mute);margin-left:5px}
td.name{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
tbody tr:nth-child(even){background:#fafbfc}
tbody tr:hover{background:#eef4fb}
tr.view{color:#9aa5b1}
tr.chosen{font-weight:600}
tr.worst td{background:#fff1f0}
td.bar{background:linear-gradient(90deg,#dbe7f5 var(--p),transparent var(--p))}
td.bar.ddr{background:linear-gradient(90deg,#fbe3d0 var(--p),transparent var(--p))}
.pill{border-radius:10px;padding:1px 8px;font-size:11.5px;color:#fff;background:#8c8c8c}
.pill.compute{background:#4C72B0}.pill.memory{background:#DD8452}.pill.view{background:#bbb}
.tag{background:var(--accent);color:#fff;border-radius:4px;padding:1px 6px;font-size:11px;font-weight:500}
table.compact{width:auto;min-width:60%}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
footer{color:var(--mute);font-size:12px;padding:10px 24px 30px}
@media (max-width:1000px){.cards{grid-template-columns:repeat(3,1fr)}.grid2{grid-template-columns:1fr}}
"""

_JS = r"""
(function () {
  var root = document.documentElement;
  window.onerror = function (msg) { root.setAttribute("data-js-error", String(msg)); };
  function key(td) {
    var v = td.getAttribute("data-v");
    return v === null ? td.textContent.trim().toLowerCase() : parseFloat(v);
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.length > 0 && rows[0].cells[col].hasAttribute("data-v");
    var current = th.getAttribute("aria-sort");
    // numbers sort largest first on the first click: the slowest layer is what you look for
    var asc = current ? current === "descending" : !numeric;
    rows.forEach(function (r, i) { if (!r.hasAttribute("data-i")) r.setAttribute("data-i", i); });
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      var c = (typeof x === "number" && typeof y === "number") ? (x < y ? -1 : x > y ? 1 : 0)
        : String(x).localeCompare(String(y));
      if (!asc) c = -c;
      return c || (+a.getAttribute("data-i") - +b.getAttribute("data-i"));
    });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, col, th); });
    });
  });
  if (location.hash === "#selftest") {
    // headless check: sort the layer table by latency, record the order of the # column
    var t = document.getElementById("layer-table");
    t.tHead.rows[0].cells[4].click();
    var order = Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[0].textContent; });
    root.setAttribute("data-selftest", order.join(","));
  }
  root.setAttribute("data-js-ok", "1");
})();
"""
