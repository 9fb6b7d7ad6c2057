"""The study beyond the coursework, as notebook 05 reads it: the experiments' variants against their baselines
(``experiments``), the run-to-run spread over seeds, initial weights and learning-rate protocols (``seed_sweeps``),
and a trained model on a photo (``predict``). It imports :mod:`helpers`; :mod:`helpers` never imports it."""
