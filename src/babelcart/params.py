"""Estimator parameters read from the constructor's signature, as scikit-learn's ``get_params`` does.

A class that stores each keyword argument of ``__init__`` under its own name gets ``get_params()`` for free,
so whatever saves the parameters (and rebuilds with ``cls(**params)``) can never miss a new one.

>>> class Model(Params):
...     def __init__(self, *, alpha: float = 1.0) -> None:
...         self.alpha = alpha
>>> Model(alpha=2.0).get_params()
{'alpha': 2.0}
"""

from __future__ import annotations

import inspect
from typing import Any


def param_names(cls: type) -> list[str]:
    """The names of ``cls.__init__``'s parameters, in order (``self`` left out); ``*args``/``**kwargs`` refused."""
    names = []
    for p in inspect.signature(cls).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{cls.__name__}.__init__ takes *{p.name}: its parameters cannot be read from "
                            "the signature")
        names.append(p.name)
    return names


class Params:
    """Mixin: ``get_params()`` returns every constructor parameter, read back from the attribute of its name."""

    def get_params(self) -> dict[str, Any]:
        """``{name: value}`` for each parameter of ``__init__``, so ``type(self)(**get_params())`` rebuilds it."""
        return {name: getattr(self, name) for name in param_names(type(self))}
