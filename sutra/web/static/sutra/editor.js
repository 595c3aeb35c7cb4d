// Opens the Glific flow editor (loaded by the scripts before this one) on the page's flow.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("editor-config").textContent);
  window.showFlowEditor(document.getElementById("flow-editor"), config);
})();
