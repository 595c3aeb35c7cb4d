// The evaluations pages: upload a golden set, estimate and start a run, watch its progress.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  function show(box, text) {
    box.textContent = text;
    box.hidden = !text;
  }

  // --- the list page ---------------------------------------------------------------------------

  const upload = $("upload-form");
  if (upload) {
    upload.addEventListener("submit", async (event) => {
      event.preventDefault();
      const box = $("upload-error");
      show(box, "");
      const form = new FormData();
      const file = $("upload-file").files[0];
      if (!file) return;
      form.append("file", file);
      form.append("name", $("upload-name").value);
      // Not sutra.request: the body is a multipart form, not JSON.
      const response = await fetch("/evals/api/golden-sets", {
        method: "POST",
        headers: { "X-CSRFToken": window.sutra.cookie("csrftoken"), Accept: "application/json" },
        body: form,
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        const lines = (data.errors || []).map((e) => `row ${e.row}, column ${e.column}: ${e.message}`);
        show(box, `The file was not stored: ${data.detail || response.status}` +
          (lines.length > 1 ? `\n${lines.join("\n")}` : ""));
        return;
      }
      window.location.reload();
    });
  }

  const runForm = $("run-form");
  let targets = null;

  function kind() {
    return runForm.querySelector("input[name=kind]:checked").value;
  }

  async function loadTargets() {
    if (targets) return targets;
    targets = await window.sutra.request("GET", "/evals/api/targets");
    const nodes = $("node-select");
    const flows = $("flow-select");
    for (const flow of targets.flows) {
      flows.add(new Option(flow.name, flow.uuid));
      for (const node of flow.gpt_nodes) {
        const option = new Option(`${flow.name} › ${node.result_name || node.node_uuid} (${node.model || "gpt-4o"})`,
          `${flow.uuid}|${node.node_uuid}`);
        nodes.add(option);
      }
    }
    return targets;
  }

  function body() {
    const chosen = kind();
    let target;
    if (chosen === "gpt") {
      const format = $("gpt-format").value;
      target = {
        kind: "gpt",
        prompt: $("gpt-prompt").value,
        model: $("gpt-model").value,
        temperature: Number($("gpt-temperature").value || 0),
        response_format: format ? { type: format } : null,
      };
    } else if (chosen === "flow_node") {
      const [flow, node] = ($("node-select").value || "|").split("|");
      target = { kind: "flow_node", flow_uuid: flow, node_uuid: node };
    } else {
      target = { kind: "flow", flow_uuid: $("flow-select").value, result: $("flow-result").value };
    }
    return {
      golden_set_id: Number($("run-golden").value),
      name: $("run-name").value || null,
      target,
      options: {
        duplication: Number($("run-duplication").value || 1),
        judge: $("run-judge").value || "auto",
        similarity: $("run-similarity").value,
      },
    };
  }

  function describe(estimate) {
    const lines = estimate.lines.map((l) => `${l.purpose}: ${l.calls} calls to ${l.model} (${l.provider}), ` +
      `${l.prompt_tokens + l.completion_tokens} tokens, $${l.cost.toFixed(4)}`);
    return `${estimate.answers} answers: ${estimate.calls} calls, ` +
      `${estimate.prompt_tokens + estimate.completion_tokens} tokens, about $${estimate.cost.toFixed(4)}, ` +
      `roughly ${estimate.seconds} s\n${lines.join("\n")}`;
  }

  if (runForm) {
    for (const radio of runForm.querySelectorAll("input[name=kind]")) {
      radio.addEventListener("change", async () => {
        for (const part of runForm.querySelectorAll(".kind")) part.hidden = part.dataset.kind !== kind();
        if (kind() !== "gpt") await loadTargets();
      });
    }
    $("estimate").addEventListener("click", async () => {
      show($("run-error"), "");
      try {
        const estimate = await window.sutra.request("POST", "/evals/api/estimate", body());
        show($("estimate-box"), describe(estimate));
      } catch (error) {
        show($("run-error"), error.message);
      }
    });
    runForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      show($("run-error"), "");
      try {
        const run = await window.sutra.request("POST", "/evals/api/runs", body());
        window.location.assign(`/evals/runs/${run.id}`);
      } catch (error) {
        show($("run-error"), error.message);
      }
    });
  }

  // --- a run's page: progress until it ends ----------------------------------------------------

  const page = $("run-page");
  if (page && ["queued", "running"].includes(page.dataset.status)) {
    const id = page.dataset.run;
    const poll = async () => {
      let run;
      try {
        run = await window.sutra.request("GET", `/evals/api/runs/${id}`);
      } catch {
        window.setTimeout(poll, 2000);
        return;
      }
      $("run-status").textContent = run.status;
      $("run-status").className = `status status-${run.status}`;
      $("run-progress").value = run.done;
      $("run-count").textContent = `${run.done} / ${run.total}`;
      if (["queued", "running"].includes(run.status)) window.setTimeout(poll, 1000);
      else window.location.reload(); // the report is drawn by the server
    };
    window.setTimeout(poll, 500);
  }
  const cancel = $("cancel-run");
  if (cancel) {
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      await window.sutra.request("POST", `/evals/api/runs/${page.dataset.run}/cancel`);
    });
  }
})();
