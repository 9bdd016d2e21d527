// Draws every chart of the page from its JSON (a script element of type application/json beside its
// element) and sorts tables by a clicked header. Shared by the HTML report and the dashboard.
(function () {
  function draw() {
    document.querySelectorAll("script.figure[type='application/json']").forEach(function (node) {
      var target = document.getElementById(node.getAttribute("data-for"));
      if (!target || !window.Plotly) { return; }
      var spec = JSON.parse(node.textContent);
      spec.layout.width = target.clientWidth || undefined;
      window.Plotly.newPlot(target, spec.data, spec.layout, {responsive: true, displaylogo: false});
    });
  }
  function sortable(table) {
    table.querySelectorAll("th.sortable").forEach(function (th, index) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var cell = row.cells[index];
          var raw = cell.getAttribute("data-sort") || cell.textContent;
          var num = parseFloat(raw);
          return isNaN(num) ? raw.toLowerCase() : num;
        }
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
          return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }
  function start() {
    draw();
    document.querySelectorAll("table.sortable").forEach(sortable);
    // The period picker shows the custom dates or the month only when they apply.
    document.querySelectorAll("select[name='range']").forEach(function (select) {
      function toggle() {
        var form = select.form;
        form.querySelectorAll("[data-range]").forEach(function (el) {
          el.hidden = el.getAttribute("data-range").split(" ").indexOf(select.value) < 0;
        });
      }
      select.addEventListener("change", toggle);
      toggle();
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
