/* PPCX dynamic number insertion. Include on a page:
 *   <script src="https://ppcx.example.com/dni.js" data-pool="pool_…"></script>
 * and mark each phone number with class "ppcx-number". The visitor's session keeps the same
 * number for the lease's lifetime; source and keyword come from utm_source / utm_term.
 * A page on another domain than PPCX's needs its origin (e.g. https://landing.example.com) in
 * the pool's allowed_origins: the lease is then answered with CORS headers for that origin. */
(function () {
  var me = document.currentScript;
  if (!me) { return; }
  var pool = me.getAttribute("data-pool");
  var base = me.src.replace(/\/dni\.js(\?.*)?$/, "");
  var key = "ppcx_dni_session";
  var session = null;
  try { session = window.localStorage.getItem(key); } catch (e) { session = null; }
  if (!session) {
    session = "s_" + Math.random().toString(36).slice(2) + Date.now().toString(36);
    try { window.localStorage.setItem(key, session); } catch (e) { /* private mode */ }
  }
  var query = new URLSearchParams(window.location.search);
  var params = new URLSearchParams({ pool: pool, session: session });
  var fields = { source: "utm_source", medium: "utm_medium", campaign: "utm_campaign",
                 keyword: "utm_term", click_id: "gclid" };
  Object.keys(fields).forEach(function (name) {
    var value = query.get(fields[name]);
    if (value) { params.set(name, value); }
  });
  if (!params.has("source") && document.referrer) {
    try { params.set("source", new URL(document.referrer).hostname); } catch (e) { /* ignore */ }
  }
  function pretty(e164) {
    var d = e164.replace(/^\+1/, "");
    return d.length === 10 ? "(" + d.slice(0, 3) + ") " + d.slice(3, 6) + "-" + d.slice(6) : e164;
  }
  fetch(base + "/v1/dni/number?" + params.toString(), { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (lease) {
      if (!lease) { return; }
      document.querySelectorAll(".ppcx-number").forEach(function (el) {
        el.textContent = pretty(lease.number);
        if (el.tagName === "A") { el.setAttribute("href", "tel:" + lease.number); }
      });
    })
    .catch(function () { /* keep the page's default number */ });
})();
