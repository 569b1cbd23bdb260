// Keyboard shortcuts for the rating page: 1-5 score the highlighted scale and move to the next one,
// A / B / E (egal, tie) pick the better answer, Enter saves, the left arrow goes back a page.
(function () {
  const scales = Array.from(document.querySelectorAll("fieldset.scale"));
  let current = scales.findIndex((s) => !s.querySelector("input:checked"));
  if (current < 0) current = 0;
  function highlight() {
    scales.forEach((s, i) => s.classList.toggle("current", i === current));
  }
  scales.forEach((s, i) => s.addEventListener("click", () => { current = i; highlight(); }));
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "TEXTAREA" || event.target.tagName === "INPUT" && event.target.type !== "radio") return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (/^[1-5]$/.test(event.key) && scales.length) {
      const input = scales[current].querySelector(`input[value="${event.key}"]`);
      if (input) input.checked = true;
      current = Math.min(current + 1, scales.length - 1);
      highlight();
      event.preventDefault();
    } else if (["a", "b", "e"].includes(event.key.toLowerCase())) {
      const value = { a: "A", b: "B", e: "tie" }[event.key.toLowerCase()];
      const input = document.querySelector(`input[name="choice"][value="${value}"]`);
      if (input) { input.checked = true; event.preventDefault(); }
    } else if (event.key === "Enter") {
      document.getElementById("rating").requestSubmit();
      event.preventDefault();
    } else if (event.key === "ArrowLeft") {
      const back = document.getElementById("back");
      if (back) window.location = back.href;
    }
  });
  highlight();
})();
