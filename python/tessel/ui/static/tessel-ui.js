// tessel ui: the only script. The pages work without it; it shows the smoothing value as the slider moves.
document.addEventListener("DOMContentLoaded", function () {
  var slider = document.getElementById("smooth");
  if (!slider || !slider.nextElementSibling) return;
  slider.addEventListener("input", function () { slider.nextElementSibling.value = slider.value; });
});
