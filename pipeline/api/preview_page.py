"""The preview page served at GET /: plain HTML + a little JavaScript, no plugins, no external files.

Every second it fetches /preview/streams.json, adds a card per new stream with a live
``<img src=/streams/NAME/preview.mjpg>`` (Chromium and Firefox show MJPEG natively) and
updates FPS, state and end-to-end latency (the mean over the last second, from the
difference of the histogram's running sum and count between two fetches; the run's mean
when no frame came in between).
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>streamdet live</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
 h1 { font-size: 18px; margin: 0 0 12px; }
 #streams { display: flex; flex-wrap: wrap; gap: 12px; }
 .card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; width: 480px; }
 .card h2 { font-size: 15px; margin: 0 0 6px; }
 .card img { width: 100%; display: block; background: #eee; min-height: 270px; }
 .stats { margin: 6px 0 0; font-variant-numeric: tabular-nums; }
 .down { color: #a00; }
</style></head>
<body><h1>streamdet &middot; live preview</h1><div id="streams"><p id="empty">no streams yet</p></div>
<script>
"use strict";
const cards = new Map();
function card(name) {
  const div = document.createElement("div"); div.className = "card"; div.dataset.stream = name;
  const title = document.createElement("h2"); title.textContent = name;
  const img = document.createElement("img"); img.alt = name;
  img.src = "/streams/" + encodeURIComponent(name) + "/preview.mjpg";
  const stats = document.createElement("p"); stats.className = "stats"; stats.textContent = "...";
  div.append(title, img, stats); document.getElementById("streams").append(div);
  return {div, img, stats, sum: null, count: null};
}
function show(c, s) {
  let e2e = "-";
  if (s.e2e_count != null && s.e2e_sum_s != null) {
    const dn = c.count == null ? s.e2e_count : s.e2e_count - c.count;
    const ds = c.sum == null ? s.e2e_sum_s : s.e2e_sum_s - c.sum;
    if (dn > 0) e2e = (1000 * ds / dn).toFixed(1);
    else if (s.e2e_count > 0) e2e = (1000 * s.e2e_sum_s / s.e2e_count).toFixed(1);   // nothing new: run mean
    c.sum = s.e2e_sum_s; c.count = s.e2e_count;
  }
  const fps = s.fps == null ? "-" : Number(s.fps).toFixed(1);
  c.stats.textContent = fps + " FPS \\u00b7 e2e " + e2e + " ms \\u00b7 " + (s.state || "?");
  c.stats.classList.toggle("down", !s.up);
}
async function refresh() {
  try {
    const rows = (await (await fetch("/preview/streams.json", {cache: "no-store"})).json()).streams;
    const names = new Set(rows.map(r => r.name));
    for (const [name, c] of cards) if (!names.has(name)) { c.img.src = ""; c.div.remove(); cards.delete(name); }
    for (const s of rows) { if (!cards.has(s.name)) cards.set(s.name, card(s.name)); show(cards.get(s.name), s); }
    document.getElementById("empty").hidden = rows.length > 0;
  } catch (err) { /* the server restarts: try again next time */ }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""
