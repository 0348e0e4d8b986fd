"""`/`: one self-contained page (inline CSS and JS, no build step, no CDN) that polls `/stats`
and `/rooms` every 1.5 s. Topics and names come from users: they are only ever set with
`textContent`, never parsed as HTML."""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chat stats</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; background: #fafafa; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  #cards { display: flex; flex-wrap: wrap; gap: .6rem; margin-bottom: 1.2rem; }
  .card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5rem .8rem;
          min-width: 9rem; }
  .card b { display: block; font-size: 1.25rem; font-variant-numeric: tabular-nums; }
  .card span { color: #666; font-size: .8rem; }
  table { border-collapse: collapse; background: #fff; width: 100%; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #eee; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  #status { color: #888; font-size: .8rem; margin-top: .8rem; }
  #status.bad { color: #b00; }
</style>
</head>
<body>
<h1>chat server</h1>
<div id="cards"></div>
<table>
  <thead><tr><th>room</th><th>members</th><th>msgs/s</th><th>messages</th>
  <th>last activity</th><th>topic</th></tr></thead>
  <tbody id="rooms"></tbody>
</table>
<div id="status">loading...</div>
<script>
"use strict";
const fmt = (x, d) => (x === null || x === undefined) ? "-" : Number(x).toFixed(d);
function card(label, value) {
  const div = document.createElement("div");
  div.className = "card";
  const b = document.createElement("b");
  b.textContent = value;
  const span = document.createElement("span");
  span.textContent = label;
  div.append(b, span);
  return div;
}
function cell(text, numeric) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "n";
  return td;
}
function ago(ts) {
  if (ts === null) return "-";
  const s = Math.max(0, Date.now() / 1000 - ts);
  return s < 60 ? s.toFixed(0) + " s ago" : (s / 60).toFixed(0) + " min ago";
}
async function refresh() {
  const status = document.getElementById("status");
  try {
    const [sr, rr] = await Promise.all([fetch("stats"), fetch("rooms?order=members&limit=50")]);
    if (!sr.ok || !rr.ok) throw new Error("HTTP " + sr.status + "/" + rr.status);
    const s = await sr.json(), r = await rr.json();
    const m = s.messages, d = s.disconnects;
    document.getElementById("cards").replaceChildren(
      card("connections (peak " + s.connections.peak + ")", s.connections.current),
      card("rooms", s.rooms),
      card("received / s (" + m.received.total + " total)", fmt(m.received.per_second, 1)),
      card("delivered / s (" + m.delivered.total + " total)", fmt(m.delivered.per_second, 1)),
      card("slow-consumer cuts", d.slow_consumer),
      card("idle cuts", d.idle),
      card("errors", Object.values(s.errors).reduce((a, b) => a + b, 0)),
      card("loop lag ms (max " + fmt(s.event_loop.lag_max_seconds * 1000, 1) + ")",
           fmt(s.event_loop.lag_seconds * 1000, 1)),
      card("uptime s", fmt(s.uptime_seconds, 0)),
    );
    document.getElementById("rooms").replaceChildren(...r.items.map(room => {
      const tr = document.createElement("tr");
      tr.append(cell(room.name), cell(room.members, true),
                cell(fmt(room.messages_per_second, 2), true), cell(room.messages_total, true),
                cell(ago(room.last_activity)), cell(room.topic));
      return tr;
    }));
    status.className = "";
    status.textContent = "showing " + r.items.length + " of " + r.total +
      " rooms, biggest first; updated " + new Date().toLocaleTimeString();
  } catch (err) {
    status.className = "bad";
    status.textContent = "cannot reach the server: " + err;
  }
}
refresh();
setInterval(refresh, 1500);
</script>
</body>
</html>
"""
