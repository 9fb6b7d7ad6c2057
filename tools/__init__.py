"""The study's tooling, beside it: what builds the report and the README's tables from the committed results
(``report``, ``numbers``, ``claims``, ``readme``, ``browser``) and what lands a training queue's runs (``landing``).
The notebooks never import it; it imports :mod:`helpers`, never the other way round. ``python -m tools --help``."""
