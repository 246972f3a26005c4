"""Cross-domain similarity local scaling (CSLS, Conneau et al. 2018) for retrieval across languages.

``csls(q, d) = 2 cos(q, d) - r_D(q) - r_Q(d)`` where ``r_D(q)`` is the mean cosine of ``q`` to its ``k``
nearest documents and ``r_Q(d)`` the mean cosine of ``d`` to its ``k`` nearest queries. It penalizes
"hubs": documents that are close to everything.

>>> import numpy as np
>>> Q = np.eye(3, dtype="float32"); D = np.eye(3, dtype="float32")
>>> csls_scores(Q, D, k=1).argmax(axis=1).tolist()
[0, 1, 2]
"""

from __future__ import annotations

import numpy as np

from babelcart.encoders.base import l2_normalize


def _mean_topk(S: np.ndarray, k: int, axis: int) -> np.ndarray:
    k = max(1, min(k, S.shape[axis]))
    part = -np.partition(-S, k - 1, axis=axis)
    part = part[:, :k] if axis == 1 else part[:k, :]
    return part.mean(axis=axis)


def csls_scores(Q: np.ndarray, D: np.ndarray, k: int = 10) -> np.ndarray:
    """CSLS score matrix ``[n_queries, n_docs]`` for unit-normalized (or any) rows of ``Q`` and ``D``."""
    Q = l2_normalize(np.asarray(Q, dtype=np.float32))
    D = l2_normalize(np.asarray(D, dtype=np.float32))
    if Q.shape[1] != D.shape[1]:
        raise ValueError(f"dimension mismatch: queries {Q.shape[1]}, documents {D.shape[1]}")
    S = Q @ D.T
    r_q = _mean_topk(S, k, axis=1)  # each query's neighbourhood density among documents
    r_d = _mean_topk(S, k, axis=0)  # each document's neighbourhood density among queries
    return 2 * S - r_q[:, None] - r_d[None, :]


def retrieve(Q: np.ndarray, D: np.ndarray, *, method: str = "cosine", k: int = 10) -> np.ndarray:
    """Index of the best document for each query, by ``cosine`` or ``csls``."""
    if method == "csls":
        S = csls_scores(Q, D, k=k)
    elif method == "cosine":
        S = l2_normalize(np.asarray(Q, dtype=np.float32)) @ l2_normalize(np.asarray(D, dtype=np.float32)).T
    else:
        raise ValueError(f"method must be 'cosine' or 'csls', not {method!r}")
    return S.argmax(axis=1)
