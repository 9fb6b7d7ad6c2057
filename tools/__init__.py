"""The study's tooling, beside it: the command line (``cli``, ``python -m tools --help``), training a run through
its notebook (``execute``) and an experiment's variants (``experiments``), the benchmark and estimates (``bench``),
model cards and releases (``release``), the report and the README's tables from the committed results (``report``,
``numbers``, ``claims``, ``readme``, ``browser``) and landing a training queue's runs (``landing``). The notebooks
never import it; it imports :mod:`helpers` and :mod:`extensions`, never the other way round."""
