"""The model card (``README.md``) the trainer writes into every model folder."""

from __future__ import annotations

from typing import Any


def _metric_lines(report: dict[str, Any], task: str) -> list[str]:
    head = "| lang | n | accuracy | macro-F1 |" + (" MAE |" if task == "rating" else "")
    sep = "|---|---|---|---|" + ("---|" if task == "rating" else "")
    lines = [head, sep]
    for lang, row in [*report["languages"].items(), ("all", report["all"])]:
        cells = f"| {lang} | {row['n']} | {row['accuracy']:.3f} | {row['macro_f1']:.3f} |"
        if task == "rating":
            cells += f" {row['mae']:.3f} |"
        lines.append(cells)
    return lines


def model_card(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    """Markdown: what the model does, data, languages, alignment, metrics, limits."""
    td = config["training_data"]
    lines = [
        f"# babelcart model: {', '.join(config['tasks'])}",
        "",
        f"Trained {config['created']} with babelcart {config['babelcart_version']} (method: {config['method']}).",
        "",
        "## Use",
        "",
        "```",
        "babelcart predict THIS_FOLDER input.jsonl --out predictions.jsonl",
        "```",
        "",
        "```python",
        "from babelcart.apps.classify import load_classifier",
        "clf = load_classifier('THIS_FOLDER'); clf.predict(['texto de ejemplo'])",
        "```",
        "",
        "## Model",
        "",
        f"- encoder: `{config['encoder']['spec']}` ({config['encoder']['dim']}-d, role `{config['encoder']['role']}`), frozen",
        f"- alignment: `{config['alignment']['mode']}`"
        + (f"; centering statistics for {', '.join(sorted(config['alignment']['centering_counts']))}"
           if config["alignment"]["centering_counts"] else "")
        + (f"; Procrustes maps for {', '.join(sorted(config['alignment']['procrustes_pairs']))}"
           if config["alignment"]["procrustes_pairs"] else ""),
        f"- source language: `{config['source_lang']}`",
    ]
    for h in config["model"]["heads"]:
        lines.append(f"- head `{h['name']}`: task {h['task']}, {h['kind']} on field `{h['label_field']}`, "
                     f"labels {h['labels']}, temperature {h['temperature']:.3f}")
    lines += ["", "## Training data", "",
              f"- {td['n']} labelled texts, sha256 `{td['sha256'][:16]}...`, languages {td['languages']}",
              f"- unlabeled text: {td['unlabeled_languages'] or 'none'}",
              f"- few-shot target examples: {td['few_shot'] or 'none'}", ""]
    for name, hm in metrics.get("heads", {}).items():
        task = next(h["task"] for h in config["model"]["heads"] if h["name"] == name)
        for split in ("dev", "train"):
            if split in hm:
                lines += [f"## Metrics: head `{name}`, {split}", "", *_metric_lines(hm[split], task), ""]
    lines += [
        "## Limits",
        "",
        "- Zero-shot quality in a language depends on how well the encoder covers it; check the per-language",
        "  table above (`babelcart evaluate`) on labelled data of your target languages before relying on it.",
        "- Languages without stored centering statistics are centered with statistics of the prediction batch",
        "  (at least 5 texts of that language) or with the average language mean; large batches help.",
        "- Train metrics are optimistic; use a dev set or `babelcart evaluate` for honest numbers.",
        "",
    ]
    return "\n".join(lines)
