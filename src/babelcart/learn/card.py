"""The model card (``README.md``) the trainer writes into every model folder."""

from __future__ import annotations

from collections.abc import Mapping
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
        "import babelcart",
        "clf = babelcart.load('THIS_FOLDER'); clf.predict(['texto de ejemplo'])",
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


def finetune_card(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    train = config["train"]
    dev = metrics.get("dev") or {}
    dev_line = ", ".join(f"{k} {v:.4f}" for k, v in dev.items() if k != "n") or "no dev set given"
    return "\n".join([
        f"# babelcart fine-tuned {config['task']} model",
        "",
        f"- base encoder: `{config['encoder_spec']}` (mean pooling, max_length {config['max_length']}, "
        f"query prefix {config['query_prefix']!r})",
        f"- head: {config['head']['type']} over {config['head']['n_labels']} labels: {config['labels']}",
        f"- LoRA: {'r=' + str(config['lora']['r']) + ', merged into encoder/' if config['lora']['enabled'] else 'no'}",
        f"- training data: {train['n_train']} examples, languages {train['langs']}, sha256 {train['data_sha256']}",
        f"- joint λ {config['joint_lambda']} (target languages {config['target_langs'] or 'all'}), "
        f"contrastive weight {config['contrastive_weight']} on {train['parallel_pairs']} parallel pairs",
        f"- epochs run {train['epochs_run']}/{train['epochs']}, best epoch {train['best_epoch']}, "
        f"early stop: {train['stopped_early']}, seed {train['seed']}",
        f"- dev metrics (best epoch): {dev_line}",
        f"- calibration: temperature {config['head'].get('calibration', {}).get('temperature', 1.0):.3f} fitted on "
        f"{config['head'].get('calibration', {}).get('on', 'nothing')} (probabilities mean what they say only when "
        "fitted on held-out labels)",
        "",
        "Limits: quality on languages absent from training depends on the base encoder's multilingual "
        "alignment; check per-language dev scores before trusting a language.",
        "",
        "Load: `babelcart.load(path)` (or `babelcart.models.finetuned.load_finetuned(path)`); the encoder alone: `AutoModel.from_pretrained(path / 'encoder')`.",
        "",
    ])
