// Live refresh: re-fetch this page and swap <main>; paused while the tab is hidden.
(() => {
  const d = document, h = d.documentElement, every = (+h.dataset.refresh || 15) * 1000;
  let busy = false, last = Date.now();
  h.dataset.live = "on";
  h.dataset.refreshed = "0";
  async function tick() {
    if (d.hidden || busy) return;
    busy = true;
    try {
      const r = await fetch(location.href, { cache: "no-store", headers: { Accept: "text/html" } });
      if (!r.ok) throw new Error(r.status);
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = doc.querySelector("main"), main = d.querySelector("main");
      if (!fresh || !main) throw new Error("no main");
      const open = [...main.querySelectorAll("details[open]")].map((e) => e.id);
      main.innerHTML = fresh.innerHTML;
      for (const id of open) {
        const e = id && d.getElementById(id);
        if (e) e.open = true;
      }
      d.title = doc.title;
      h.dataset.refreshed = String(+h.dataset.refreshed + 1);
      delete h.dataset.stale;
    } catch (e) {
      h.dataset.stale = "1";
    } finally {
      busy = false;
      last = Date.now();
    }
  }
  setInterval(() => { if (Date.now() - last >= every - 50) tick(); }, Math.min(every, 1000));
  d.addEventListener("visibilitychange", () => { if (!d.hidden && Date.now() - last > every) tick(); });
})();
