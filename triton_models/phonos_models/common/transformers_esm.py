"""What phonos takes from Hugging Face transformers (ESM-2, ESMFold, openfold utilities), imported narrowly.

Every model instance imports this in its own process, so its import time is paid per instance at each
server start (two ESMFold instances, DiffDock and ESM-2: all on two cores in the test suite). transformers
5.24 builds the lazy index of its ~400 model packages by reading the source of every file under
`transformers/models/` (looking for `__all__`), and does it twice: once in `transformers/__init__.py`
for the top-level names and again in `transformers/models/__init__.py`, whose lazy module would only
serve `transformers.models.<name>` as an attribute (its cache, `lru_cache(128)`, is far smaller than
the ~1,100 directories). The second scan is ~0.7 s of CPU per process and nothing here needs it:
`transformers.models` is registered as the plain package it is, without running its `__init__`.
Submodules still import as usual (`transformers.models.esm` and below keep their own lazy modules),
and `transformers.EsmForProteinFolding` etc. still work through the top-level index; only attribute
access to a model package nobody imported (`transformers.models.bert` without `import
transformers.models.bert`) would fail, which neither phonos nor the ESM code paths do. Where
something imported `transformers.models` first, nothing changes.
"""

from __future__ import annotations

import importlib.util
import sys


def _register_models_package() -> None:
    if "transformers.models" in sys.modules:
        return
    import transformers

    spec = importlib.util.find_spec("transformers.models")
    if spec is None or spec.submodule_search_locations is None:  # not the layout this was written for
        return
    package = importlib.util.module_from_spec(spec)  # a package with its __path__, its __init__ not run
    sys.modules["transformers.models"] = package
    transformers.models = package  # what the import system sets on the parent after a submodule import


_register_models_package()

# ruff: noqa: E402 - these must come after the registration above
from transformers.models.esm.configuration_esm import EsmConfig
from transformers.models.esm.modeling_esm import EsmModel
from transformers.models.esm.modeling_esmfold import EsmForProteinFolding
from transformers.models.esm.openfold_utils.feats import atom14_to_atom37
from transformers.models.esm.openfold_utils.residue_constants import restype_order_with_x

__all__ = ["EsmConfig", "EsmForProteinFolding", "EsmModel", "atom14_to_atom37", "restype_order_with_x"]
