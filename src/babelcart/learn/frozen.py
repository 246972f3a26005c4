"""The frozen recipe (``--method head``): encode, align, fit heads, calibrate, self-train, write the model folder."""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.align.aligner import Aligner
from babelcart.encoders.base import vectors_id
from babelcart.learn.config import DEFAULT_L2, MIN_CALIBRATION_ROWS, TrainConfig
from babelcart.learn.data import (
    HeadConfig,
    Labelled,
    Source,
    TrainDataError,
    check_bad,
    label_list,
    load_source,
    majority_lang,
    parse_labelled,
    read_parallel,
    read_unlabeled,
)
from babelcart.learn.inputs import load_training
from babelcart.learn.label_shift import adjust_to_prior, estimate_prior, select_pseudo_labels
from babelcart.learn.metrics import per_language_report
from babelcart.learn.weighting import GROUP_OTHER, GROUP_PSEUDO, GROUP_TARGET, group_totals, sample_weights
from babelcart.models.folder import save_model_folder
from babelcart.models.heads import Head, LogisticHead, MLPHead, fit_temperature
from babelcart.models.multitask import HeadState, TransferModel
from babelcart.models.ordinal import OrdinalHead, median_decode
from babelcart.text.languages import resolve_languages
from babelcart.version import __version__

logger = logging.getLogger(__name__)

def _make_head(kind: str, task: str, C: float, seed: int) -> Head:
    if kind == "auto":
        kind = "ordinal" if task == "rating" else "logreg"
    if kind == "ordinal":
        if task != "rating":
            raise ValueError("the ordinal head is for --task rating")
        return OrdinalHead(C=C)
    if kind == "mlp":
        return MLPHead(seed=seed)
    return LogisticHead(C=C)


def head_C(C: float | None, n: int) -> float:
    """The inverse L2 strength for a head fitted on ``n`` rows: ``C`` when given, else from :data:`DEFAULT_L2`."""
    return float(C) if C is not None else 1.0 / (DEFAULT_L2 * max(n, 1))


def _predict_idx(head: Head, F: np.ndarray, task: str) -> np.ndarray:
    P = head.predict_proba(F)
    return median_decode(P) if task == "rating" else P.argmax(axis=1)


def _fit_calibrated(head: Head, F: np.ndarray, y: np.ndarray, w: np.ndarray, n_classes: int, *,
                    calibrate: bool, dev: tuple[np.ndarray, np.ndarray] | None, seed: int) -> tuple[Head, str]:
    """Fit ``head``; set its temperature on the dev set, else on a held-out 20% of the training data."""
    head.fit(F, y, n_classes=n_classes, sample_weight=w)
    if not calibrate:
        return head, "none"
    if dev is not None and len(dev[1]) >= MIN_CALIBRATION_ROWS:
        head.temperature_ = fit_temperature(head, dev[0], dev[1])
        return head, "dev"
    rng = np.random.default_rng(seed)
    hold = rng.random(len(y)) < 0.2
    if hold.sum() < MIN_CALIBRATION_ROWS or len(np.unique(y[~hold])) < 2:
        return head, "none"
    probe = copy.deepcopy(head)
    probe.fit(F[~hold], y[~hold], n_classes=n_classes, sample_weight=w[~hold])
    head.temperature_ = fit_temperature(probe, F[hold], y[hold])
    return head, "holdout"


@dataclass
class _Inputs:
    """Everything :class:`_Trainer` reads, parsed and with languages resolved (the load phase's result)."""

    train: Labelled
    train_langs: list[str]
    source_lang: str
    groups: np.ndarray
    dev: Labelled | None
    dev_langs: list[str]
    dev_given: bool  # a --dev file (its rows also feed the centering statistics), not the few-shot held-out rest
    unl_texts: list[str]
    unl_langs: list[str]
    unl_files: list[dict[str, Any]]
    fewshot_counts: dict[str, dict[str, int]]


@dataclass
class _Vectors:
    """Encoder outputs of the encode phase."""

    train: np.ndarray
    dev: np.ndarray | None
    unl: np.ndarray


@dataclass
class _Aligned:
    """The align phase's result: the fitted aligner, aligned features and what the fit saw."""

    aligner: Aligner
    train: np.ndarray
    dev: np.ndarray | None
    unl: np.ndarray
    parallel_info: dict[str, Any]
    balance_info: dict[str, Any]
    missing_stats: list[str]


class _Trainer:
    """The frozen-encoder trainer, in named phases: load → encode → align → fit (+ self-training) → save."""

    def __init__(self, cfg: TrainConfig, encoder: Any) -> None:
        self.cfg = cfg
        if encoder is None:
            from babelcart.encoders import get_encoder

            encoder = get_encoder(cfg.encoder, cache_dir=cfg.cache_dir) if cfg.cache_dir else get_encoder(cfg.encoder)
        self.encoder = encoder

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return self.encoder.encode(texts, role=self.cfg.role)

    def run(self) -> Path:
        data = self.load()
        vectors = self.encode_inputs(data)
        aligned = self.align(data, vectors)
        states, metrics = self.fit_heads(data, aligned)
        return self.save(data, aligned, states, metrics)

    # -- phase 1: load
    def load(self) -> _Inputs:
        """Parse the training, few-shot target, dev and unlabeled inputs; resolve every text's language."""
        cfg = self.cfg
        train, train_langs = load_training(cfg)
        source_lang = cfg.source_lang or Counter(train_langs).most_common(1)[0][0]
        groups = [GROUP_OTHER] * len(train.texts)
        held: Labelled | None = None
        fewshot_counts: dict[str, dict[str, int]] = {}
        if cfg.target is not None:
            held, fewshot_counts = self._add_few_shot(cfg.target, cfg.few_shot, train, train_langs, groups)
        elif cfg.joint_lambda is not None:
            groups = [GROUP_OTHER if g == source_lang else GROUP_TARGET for g in train_langs]
        dev, dev_langs = held, held.langs if held is not None else []
        if cfg.dev is not None:
            dev = parse_labelled(load_source(cfg.dev, "dev"), cfg.heads, cfg.text_field, "dev")
            check_bad(dev, "dev", cfg.skip_bad)
            dev_langs = resolve_languages(dev.texts, dev.langs)
        unl_texts, unl_given, unl_files = read_unlabeled(cfg.unlabeled, cfg.text_field)
        return _Inputs(train=train, train_langs=train_langs, source_lang=source_lang, groups=np.array(groups),
                       dev=dev, dev_langs=dev_langs, dev_given=cfg.dev is not None, unl_texts=unl_texts,
                       unl_langs=resolve_languages(unl_texts, unl_given), unl_files=unl_files,
                       fewshot_counts=fewshot_counts)

    def _add_few_shot(self, target: Source, n: int | None, train: Labelled, train_langs: list[str],
                      groups: list[int]) -> tuple[Labelled | None, dict[str, dict[str, int]]]:
        """Move ``n`` per class per target language from ``target`` into training (all of it when ``n`` is
        None); return the held-out rest. Lines whose label fields are all empty (suggested by ``label suggest``
        and not filled in yet) are skipped with a warning."""
        cfg = self.cfg
        head0 = str(cfg.heads[0].name)
        records = load_source(target, "target")
        unfilled = [r for r in records if "error" not in r
                    and all(r.get(h.label_field) in (None, "") for h in cfg.heads)]
        if unfilled:
            logger.warning("--target: %d line(s) have no label yet and are not used", len(unfilled))
            records = [r for r in records if not any(r is u for u in unfilled)]
        tgt = parse_labelled(records, cfg.heads, cfg.text_field, "target")
        check_bad(tgt, "target", cfg.skip_bad)
        if not tgt.texts:
            raise TrainDataError("the --target file has no usable labelled lines")
        tgt_langs = resolve_languages(tgt.texts, tgt.langs)
        take = (set(range(len(tgt.texts))) if n is None else self._few_shot_indices(tgt, tgt_langs, n, head0))
        counts: dict[str, dict[str, int]] = {}
        for i in sorted(take):
            train.texts.append(tgt.texts[i])
            train_langs.append(tgt_langs[i])
            for k in train.labels:
                train.labels[k].append(tgt.labels[k][i])
            groups.append(GROUP_TARGET)
            lab = str(tgt.labels[head0][i])
            counts.setdefault(tgt_langs[i], {}).setdefault(lab, 0)
            counts[tgt_langs[i]][lab] += 1
        rest = [i for i in range(len(tgt.texts)) if i not in take]
        if not rest:
            return None, counts
        held = Labelled(texts=[tgt.texts[i] for i in rest], langs=[tgt_langs[i] for i in rest],
                        labels={k: [v[i] for i in rest] for k, v in tgt.labels.items()}, bad=[])
        return held, counts

    # -- phase 2: encode
    def encode_inputs(self, data: _Inputs) -> _Vectors:
        """Encode every text once."""
        logger.info("encoding %d training, %d dev, %d unlabeled texts with %s", len(data.train.texts),
                    len(data.dev.texts) if data.dev else 0, len(data.unl_texts), self.encoder.spec)
        return _Vectors(train=self.encode(data.train.texts),
                        dev=self.encode(data.dev.texts) if data.dev is not None else None,
                        unl=self.encode(data.unl_texts))

    # -- phase 3: align
    def align(self, data: _Inputs, vec: _Vectors) -> _Aligned:
        """Fit per-language centering (class-balanced means), Procrustes maps; transform every vector set."""
        cfg = self.cfg
        aligner = Aligner(mode=cfg.align, whiten=cfg.whiten)
        use_dev = vec.dev is not None and data.dev_given
        stat_X = np.vstack([vec.train, vec.unl] + ([vec.dev] if use_dev and vec.dev is not None else []))
        stat_L = data.train_langs + data.unl_langs + (data.dev_langs if use_dev else [])
        if cfg.align != "none":
            first = data.train.labels[str(cfg.heads[0].name)]
            w_stat = np.ones(len(stat_L))
            if cfg.balance_centering:  # class-balanced source mean: independent of the source's label mix
                lab_rows = [i for i, v in enumerate(first) if v is not None and data.train_langs[i] == data.source_lang]
                label_counts = Counter(str(first[i]) for i in lab_rows)
                for i in lab_rows:
                    w_stat[i] = len(lab_rows) / (len(label_counts) * label_counts[str(first[i])])
            aligner.fit_centering(stat_X, stat_L, sample_weight=w_stat)
        parallel_info = self._fit_parallel(aligner, data.source_lang) if cfg.align == "procrustes" else {}
        balance_info: dict[str, Any] = {}
        if cfg.align != "none" and cfg.balance_centering:
            balance_info = self._balance_target_means(aligner, vec.train, data.train.labels, data.train_langs,
                                                      stat_X, stat_L, data.source_lang)
        missing = (sorted({*data.unl_langs, *data.dev_langs} - set(aligner.centering_.means_))
                   if aligner.centering_ else [])
        if missing:
            logger.warning("no centering statistics for %s (too little text); prediction will estimate them "
                           "from the batch or use the average language mean", ", ".join(missing))
        return _Aligned(aligner=aligner, train=aligner.transform(vec.train, data.train_langs),
                        dev=aligner.transform(vec.dev, data.dev_langs) if vec.dev is not None else None,
                        unl=aligner.transform(vec.unl, data.unl_langs), parallel_info=parallel_info,
                        balance_info=balance_info, missing_stats=missing)

    # -- phase 4: fit
    def fit_heads(self, data: _Inputs, al: _Aligned) -> tuple[list[HeadState], dict[str, Any]]:
        """Fit and calibrate every head, with its self-training rounds; per-language reports."""
        states: list[HeadState] = []
        metrics: dict[str, Any] = {"heads": {}}
        for hc in self.cfg.heads:
            state, hm = self._fit_head(hc, data, al)
            states.append(state)
            metrics["heads"][state.name] = hm
        return states, metrics

    def _fit_head(self, hc: HeadConfig, data: _Inputs, al: _Aligned) -> tuple[HeadState, dict[str, Any]]:
        cfg = self.cfg
        name = str(hc.name)
        ys = data.train.labels[name]
        labels = label_list(ys, hc.task)
        index = {lab: i for i, lab in enumerate(labels)}
        rows = np.array([i for i, v in enumerate(ys) if v is not None], dtype=np.int64)
        if len(rows) == 0:
            raise TrainDataError(f"head {name!r}: no training line has a label in field {hc.label_field!r}")
        y = np.array([index[_canon(ys[i], labels)] for i in rows])
        present = sorted({labels[i] for i in y.tolist()}, key=str)
        if len(present) < 2:
            raise TrainDataError(f"head {name!r}: the training labels have only one class ({present[0]!r}); "
                                 "need at least two")
        dev_xy = self._dev_xy(data.dev, al.dev, data.dev_langs, name, labels)
        dev_fit = (dev_xy[0], dev_xy[1]) if dev_xy is not None else None
        F_h, g_h = al.train[rows], data.groups[rows]
        head, calib, C = self._fit_one(hc.task, F_h, y, g_h, len(labels), dev_fit)
        rounds: list[dict[str, Any]] = [{"round": 0, "pseudo": {}, "dev": self._dev_metric(head, dev_xy, hc.task)}]
        for r in range(1, cfg.self_train_rounds + 1):
            head, calib, C, rep = self._self_train_round(r, head, hc.task, F_h, y, g_h, labels, al.unl,
                                                         data.unl_langs, dev_fit)
            rep["dev"] = self._dev_metric(head, dev_xy, hc.task)
            logger.info("self-training %s round %d: %d pseudo-labels %s; dev %s", name, r, rep["n_pseudo"],
                        rep["pseudo"], rep["dev"])
            rounds.append(rep)
        info = {"calibration": calib, "temperature": head.temperature_, "n_train": int(len(rows)),
                **({"C": C} if cfg.head != "mlp" else {}),
                "class_counts": {str(labels[c]): int(n) for c, n in zip(*np.unique(y, return_counts=True), strict=True)}}
        hm: dict[str, Any] = {"train": self._report(head, F_h, y, [data.train_langs[i] for i in rows], labels,
                                                    hc.task, data.source_lang)}
        if dev_xy is not None:
            hm["dev"] = self._report(head, dev_xy[0], dev_xy[1], dev_xy[2], labels, hc.task, data.source_lang)
        if cfg.self_train_rounds:
            info["self_training"] = hm["self_training"] = rounds
        state = HeadState(name=name, task=hc.task, label_field=hc.label_field, labels=labels, head=head, info=info)
        return state, hm

    def _fit_one(self, task: str, F: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int,
                 dev_fit: tuple[np.ndarray, np.ndarray] | None) -> tuple[Head, str, float]:
        """One weighted, calibrated head fit: ``(head, calibration source, C)``."""
        cfg = self.cfg
        totals = group_totals(groups, joint_lambda=cfg.joint_lambda, pseudo_weight=cfg.pseudo_weight)
        w = sample_weights(y, n_classes, groups, totals, class_weight=cfg.class_weight)
        C = head_C(cfg.C, len(y))
        head, calib = _fit_calibrated(_make_head(cfg.head, task, C, cfg.seed), F, y, w, n_classes,
                                      calibrate=cfg.calibrate, dev=dev_fit, seed=cfg.seed)
        return head, calib, C

    def _self_train_round(self, r: int, head: Head, task: str, F: np.ndarray, y: np.ndarray, groups: np.ndarray,
                          labels: list[Any], F_unl: np.ndarray, unl_langs: list[str],
                          dev_fit: tuple[np.ndarray, np.ndarray] | None) -> tuple[Head, str, float, dict[str, Any]]:
        """Pseudo-label the unlabeled rows with ``head`` (each language's own bounded prior, per-class quotas),
        refit on labels + pseudo-labels."""
        cfg = self.cfg
        frac = min(1.0, cfg.self_train_fraction * r)
        source_prior = (None if cfg.class_weight == "balanced"
                        else np.bincount(y, minlength=len(labels)) / len(y))
        picked = select_pseudo_labels(head.predict_proba(F_unl), unl_langs, fraction=frac,
                                      min_confidence=cfg.self_train_min_confidence, source_prior=source_prior)
        F_all = np.vstack([F, F_unl[picked.indices]])
        y_all = np.concatenate([y, picked.labels])
        g_all = np.concatenate([groups, np.full(len(picked.indices), GROUP_PSEUDO)])
        head, calib, C = self._fit_one(task, F_all, y_all, g_all, len(labels), dev_fit)
        named = {lang: {str(labels[int(c)]): n for c, n in cnt.items()} for lang, cnt in picked.counts.items()}
        rep = {"round": r, "fraction": frac, "pseudo": named, "n_pseudo": int(len(picked.indices)),
               "priors": {lang: dict(zip(map(str, labels), p, strict=True)) for lang, p in picked.priors.items()},
               "collapsed": picked.collapsed}
        return head, calib, C, rep

    # -- phase 5: save
    def save(self, data: _Inputs, al: _Aligned, states: list[HeadState], metrics: dict[str, Any]) -> Path:
        """Write the model folder (config, arrays, metrics, model card) atomically."""
        from babelcart.learn.card import model_card

        model = TransferModel(aligner=al.aligner, heads=states)
        arrays, model_meta = model.to_arrays()
        config = self._config(model_meta, data, al)
        out = save_model_folder(self.cfg.out, config=config, arrays=arrays, metrics=metrics,
                                card=model_card(config, metrics))
        logger.info("wrote model to %s", out)
        return out

    # -- helpers

    def _balance_target_means(self, aligner: Aligner, X_train: np.ndarray, train_labels: dict[str, list[Any]],
                              train_langs: list[str],
                              stat_X: np.ndarray, stat_L: list[str], source_lang: str) -> dict[str, Any]:
        """Class-balanced mean for each target language, with classes inferred by a provisional head.

        A language's plain mean depends on its label mix (mostly 5-star reviews vs half negative ones), and
        subtracting it shifts every prediction. The source mean is already class-balanced (its labels are
        known); for each other language a provisional head trained on the source predicts soft classes for
        that language's unlabeled rows; the language's class prior is estimated from them by bounded EM
        (:func:`babelcart.learn.label_shift.estimate_prior`, so a 5-star-heavy shop is recognized as such), the
        rows are re-weighted so every class counts the same, and the weighted mean replaces the plain one (two
        passes).
        """
        cfg = self.cfg
        hc = cfg.heads[0]
        name = str(hc.name)
        labels_all = train_labels[name]
        labels = label_list(labels_all, hc.task)
        index = {lab: i for i, lab in enumerate(labels)}
        rows = [i for i, v in enumerate(labels_all) if v is not None and train_langs[i] == source_lang]
        if len(rows) < 2 or aligner.centering_ is None:
            return {}
        y = np.array([index[_canon(labels_all[i], labels)] for i in rows])
        if len(np.unique(y)) < 2:
            return {}
        F = aligner.transform(X_train[rows], [source_lang] * len(rows))
        w = sample_weights(y, len(labels), np.zeros(len(y), dtype=np.int64), {0: float(len(y))},
                           class_weight=cfg.class_weight)
        probe = _make_head(cfg.head if cfg.head != "mlp" else "auto", hc.task, head_C(cfg.C, len(y)), cfg.seed)
        probe.fit(F, y, n_classes=len(labels), sample_weight=w)
        present = np.unique(y)
        stat_arr = np.asarray(stat_L, dtype=object)
        info: dict[str, Any] = {}
        for lang in sorted(set(stat_L) - {source_lang}):
            if lang not in aligner.centering_.means_:
                continue
            Xl = stat_X[stat_arr == lang]
            for _ in range(2):
                P = probe.predict_proba(aligner.transform(Xl, [lang] * len(Xl)))[:, present]
                P = P / P.sum(axis=1, keepdims=True)
                prior = estimate_prior(P).prior
                wl = (adjust_to_prior(P, prior) / prior).sum(axis=1)
                aligner.centering_.refit_language(lang, Xl, wl)
            info[lang] = {str(labels[c]): round(float(p), 3) for c, p in zip(present, prior, strict=True)}
        logger.info("class-balanced centering: estimated class mix per language %s", info)
        return info

    def _few_shot_indices(self, tgt: Labelled, langs: list[str], n: int, head: str) -> set[int]:
        rng = np.random.default_rng(self.cfg.seed)
        take: set[int] = set()
        short: list[str] = []
        ys = tgt.labels[head]
        for lang in sorted(set(langs)):
            by_class: dict[str, list[int]] = {}
            for i, (g, v) in enumerate(zip(langs, ys, strict=True)):
                if g == lang and v is not None:
                    by_class.setdefault(str(v), []).append(i)
            for lab, idx in sorted(by_class.items()):
                if len(idx) < n:
                    short.append(f"{lang}/{lab}: {len(idx)}")
                take.update(rng.permutation(idx)[:n].tolist())
        if short:
            logger.warning("few-shot: fewer than %d examples for %d language/class pairs (all taken): %s", n,
                           len(short), ", ".join(short[:8]) + (" ..." if len(short) > 8 else ""))
        return take

    def _fit_parallel(self, aligner: Aligner, source_lang: str) -> dict[str, Any]:
        cfg = self.cfg
        by_lang: dict[str, tuple[list[str], list[str]]] = {}
        info: dict[str, Any] = {}
        given = cfg.parallel_langs
        if isinstance(given, list) and len(given) != len(cfg.parallel):
            raise ValueError(f"{len(given)} --parallel-langs for {len(cfg.parallel)} --parallel files; give one "
                             "for all or one per file")
        for n, src in enumerate(cfg.parallel):
            pairs = read_parallel(src)
            a, b = [p[0] for p in pairs], [p[1] for p in pairs]
            langs = given[n] if isinstance(given, list) else given
            la, lb = langs or (majority_lang(a), majority_lang(b))
            la, lb = la.lower(), lb.lower()
            if lb == source_lang and la != source_lang:
                xs, ts, lang = a, b, la
            elif la == source_lang and lb != source_lang:
                xs, ts, lang = b, a, lb
            else:
                raise TrainDataError(f"parallel file {src if not isinstance(src, list) else '(pairs)'}: languages "
                                     f"{la}/{lb}; one side must be the source language {source_lang} "
                                     "(set --parallel-langs xx,en)")
            prev = by_lang.setdefault(lang, ([], []))
            prev[0].extend(xs)
            prev[1].extend(ts)
        enc = {lang: (self.encode(xs), self.encode(ts)) for lang, (xs, ts) in by_lang.items()}
        try:
            aligner.fit_procrustes(source_lang, enc)
        except ValueError as exc:
            raise TrainDataError(str(exc)) from exc
        for lang, (xs, _) in by_lang.items():
            info[lang] = len(xs)
        return info

    def _dev_xy(self, dev: Labelled | None, F_dev: np.ndarray | None, dev_langs: list[str], name: str,
                labels: list[Any]) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        if dev is None or F_dev is None:
            return None
        ys = dev.labels[name]
        keep = [i for i, v in enumerate(ys) if v is not None and _canon(v, labels) in labels]
        unknown = sorted({str(v) for v in ys if v is not None and _canon(v, labels) not in labels})
        if unknown:
            logger.warning("dev labels not seen in training ignored for head %s: %s", name, unknown[:10])
        if not keep:
            return None
        index = {lab: i for i, lab in enumerate(labels)}
        return F_dev[keep], np.array([index[_canon(ys[i], labels)] for i in keep]), [dev_langs[i] for i in keep]

    def _dev_metric(self, head: Head, dev_xy: tuple[np.ndarray, np.ndarray, list[str]] | None,
                    task: str) -> dict[str, float] | None:
        if dev_xy is None:
            return None
        langs = dev_xy[2]
        pred = _predict_idx(head, dev_xy[0], task)
        out = {}
        for lang in sorted(set(langs)):
            m = np.array([g == lang for g in langs])
            out[lang] = round(float(np.mean(pred[m] == dev_xy[1][m])), 4)
        return out

    def _report(self, head: Head, F: np.ndarray, y: np.ndarray, langs: list[str], labels: list[Any], task: str,
                source_lang: str) -> dict[str, Any]:
        pred = _predict_idx(head, F, task)
        return per_language_report([labels[i] for i in y], [labels[i] for i in pred], langs, task=task,
                                   source_lang=source_lang)

    def _config(self, model_meta: dict[str, Any], data: _Inputs, al: _Aligned) -> dict[str, Any]:
        cfg = self.cfg
        train, train_langs = data.train, data.train_langs
        digest = hashlib.sha256()
        for i, t in enumerate(train.texts):
            digest.update(json.dumps([t, train_langs[i], *[train.labels[k][i] for k in sorted(train.labels)]],
                                     ensure_ascii=False, default=str).encode())
        first = model_meta["heads"][0]
        options = {k: v for k, v in asdict(cfg).items()
                   if k not in ("train", "dev", "unlabeled", "parallel", "target", "out", "heads")}
        return {
            "babelcart_version": __version__,
            "method": "head",
            "task": first["task"],
            "tasks": [h["task"] for h in model_meta["heads"]],
            "labels": first["labels"],
            "encoder": {"spec": self.encoder.spec, "build": vectors_id(self.encoder), "dim": int(self.encoder.dim),
                        "role": cfg.role},
            "text_field": cfg.text_field,
            "source_lang": data.source_lang,
            "model": model_meta,
            "alignment": {"mode": cfg.align, "whiten": cfg.whiten,
                          "centering_counts": dict(model_meta["align"].get("centering", {}).get("counts", {})),
                          "procrustes_pairs": al.parallel_info, "languages_without_stats": al.missing_stats,
                          "balanced_centering": al.balance_info},
            "training_data": {
                "sha256": digest.hexdigest(), "n": len(train.texts), "languages": dict(Counter(train_langs)),
                "skipped_bad_lines": len(train.bad), "unlabeled": data.unl_files,
                "unlabeled_languages": dict(Counter(data.unl_langs)), "few_shot": data.fewshot_counts,
            },
            "options": options,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }


def _canon(value: Any, labels: list[Any]) -> Any:
    """Match an int label to a str label list (labels were unified to str when mixed)."""
    if value in labels:
        return value
    if str(value) in labels:
        return str(value)
    return value


def train_frozen(cfg: TrainConfig, encoder: Any = None) -> Path:
    """Train the frozen recipe of a prepared ``cfg`` (:func:`~babelcart.learn.config.prepare_config`); returns the
    model folder. ``encoder`` is an already built encoder object or None (``cfg.encoder`` is built)."""
    return _Trainer(cfg, encoder).run()
