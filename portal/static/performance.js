// The performance page's charts: the numbers come from the page's JSON block (the server
// computed them; the table under the charts shows the same), drawn with the vendored Chart.js.
(function () {
  "use strict";
  var block = document.getElementById("performance-data");
  if (!block || typeof Chart === "undefined") { return; }
  var data = JSON.parse(block.textContent || "{}");
  var days = data.days || [];
  function numbers(values) {
    return (values || []).map(function (v) { return v === null ? null : Number(v); });
  }
  var common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { display: false } },
  };
  new Chart(document.getElementById("chart-spend"), {
    type: "bar",
    data: { labels: days, datasets: [{ label: "Spend (USD)", data: numbers(data.spend), backgroundColor: "#0b3d91" }] },
    options: Object.assign({}, common, { scales: { y: { beginAtZero: true, title: { display: true, text: "USD" } } } }),
  });
  new Chart(document.getElementById("chart-win"), {
    type: "line",
    data: { labels: days, datasets: [{ label: "Win rate (%)", data: numbers(data.win_rate), borderColor: "#1b5e20", spanGaps: true }] },
    options: Object.assign({}, common, { scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } } }),
  });
})();
