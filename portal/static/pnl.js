// The analyst P&L page's chart: margin per day, a stacked bar per value of the chosen
// dimension; the numbers come from the page's JSON block (the table shows the same).
(function () {
  "use strict";
  var block = document.getElementById("pnl-data");
  if (!block || typeof Chart === "undefined") { return; }
  var data = JSON.parse(block.textContent || "{}");
  var colours = ["#0b3d91", "#1b5e20", "#b71c1c", "#6a1b9a", "#e65100", "#00695c", "#37474f", "#ad1457", "#9e9e9e"];
  new Chart(document.getElementById("chart-margin"), {
    type: "bar",
    data: {
      labels: data.days || [],
      datasets: (data.series || []).map(function (s, i) {
        return { label: s.label, data: s.margin, backgroundColor: colours[i % colours.length] };
      }),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "USD" } } },
    },
  });
})();
