// Live pages and charts. No framework: charts are Apache ECharts (shipped in static/vendor), drawn from the
// option the server put in each `.chart[data-chart]`. When the read model moves (`/live`, server-sent events),
// the page fetches itself again and swaps every element marked `data-live` with the same id; forms are never
// swapped, so nothing being typed is lost.
(function () {
  "use strict";
  const charts = new Map();

  function drawCharts(root) {
    root.querySelectorAll(".chart[data-chart]").forEach(function (el) {
      if (!window.echarts) return;
      if (el.dataset.height) el.style.height = el.dataset.height + "px";
      let chart = charts.get(el.id);
      if (!chart || chart.getDom() !== el) {
        if (chart) chart.dispose();
        chart = window.echarts.init(el, null, { renderer: "svg" });
        charts.set(el.id, chart);
      }
      chart.setOption(JSON.parse(el.dataset.chart), true);
    });
  }

  let pending = null;
  let fetching = false;
  async function refresh() {
    if (fetching) { pending = pending || setTimeout(refresh, 500); return; }
    fetching = true;
    pending = null;
    try {
      const answer = await fetch(window.location.href, { headers: { "X-Requested-With": "live" }, credentials: "same-origin" });
      if (!answer.ok || answer.redirected) return;
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      document.querySelectorAll("[data-live][id]").forEach(function (old) {
        const replacement = fresh.getElementById(old.id);
        if (!replacement) return;
        if (old.classList.contains("chart")) {
          if (old.dataset.chart !== replacement.dataset.chart) {
            old.dataset.chart = replacement.dataset.chart;
            drawCharts(old.parentElement);
          }
        } else if (old.innerHTML !== replacement.innerHTML) {
          old.innerHTML = replacement.innerHTML;
        }
      });
      document.body.dataset.refreshed = String(Date.now());
    } catch (error) {
      /* the next change event tries again */
    } finally {
      fetching = false;
    }
  }

  function listen() {
    const state = document.getElementById("live-state");
    if (!window.EventSource || document.body.dataset.livePage !== "yes") return;
    const source = new EventSource("/live");
    source.addEventListener("hello", function () {
      if (state) { state.textContent = state.dataset.liveLabel; state.className = "live-state on"; }
    });
    source.addEventListener("change", function () {
      if (!pending) pending = setTimeout(refresh, 300);
    });
    source.onerror = function () {
      if (state) { state.textContent = state.dataset.staleLabel; state.className = "live-state off"; }
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    listen();
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  });
})();
